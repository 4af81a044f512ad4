package dev.tandem.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The playground page in a real headless Chromium (Debian's chromium and chromium-driver, driven by
 * Selenium): type a prompt, see streamed text coloured by drafted and primary tokens, and the
 * statistics. Skips where no browser is installed.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PlaygroundBrowserTest {
  private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  private static final Path DRIVER = Path.of("/usr/bin/chromedriver");

  @TempDir Path dir;

  @Test
  void aPromptStreamsColouredTokensAndStatistics() throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(DRIVER),
        "no headless browser: install Debian's chromium and chromium-driver (apt-get install chromium"
            + " chromium-driver) to run the playground test");
    Path primary = ServerFixture.models(dir)[0];
    // The primary as its own drafter: drafts are accepted, so both colours appear.
    ApiServer server = ServerFixture.start(primary, primary, 2, 16, ServerFixture.KEY);
    ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(DRIVER.toFile())
        .usingAnyFreePort().withLogFile(dir.resolve("chromedriver.log").toFile()).build();
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM.toFile());
    options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
        "--user-data-dir=" + Files.createDirectory(dir.resolve("profile")));
    WebDriver browser = new ChromeDriver(service, options);
    try {
      browser.get(server.uri().toString());
      assertThat(browser.getTitle()).isEqualTo("Tandem playground");
      WebElement prompt = browser.findElement(By.id("prompt"));
      prompt.clear();
      prompt.sendKeys("once upon a time");
      WebElement max = browser.findElement(By.id("maxTokens"));
      max.clear();
      max.sendKeys("40");
      browser.findElement(By.id("apiKey")).sendKeys(ServerFixture.KEY);
      browser.findElement(By.id("send")).click();
      new WebDriverWait(browser, Duration.ofSeconds(60)).until(b -> {
        String state = b.findElement(By.id("state")).getText();
        return state.equals("done") || state.equals("failed");
      });
      assertThat(browser.findElement(By.id("error")).getText()).isEmpty();
      assertThat(browser.findElement(By.id("state")).getText()).isEqualTo("done");
      int tokens = Integer.parseInt(browser.findElement(By.id("tokens")).getText());
      assertThat(tokens).isBetween(2, 40);
      assertThat(browser.findElement(By.id("output")).getText()).isNotBlank();
      assertThat(browser.findElements(By.cssSelector("#output span.drafted"))).isNotEmpty();
      assertThat(browser.findElements(By.cssSelector("#output span.primary"))).isNotEmpty();
      assertThat(Double.parseDouble(browser.findElement(By.id("tps")).getText())).isPositive();
      assertThat(Double.parseDouble(browser.findElement(By.id("mal")).getText())).isGreaterThan(1.0);
    } finally {
      browser.quit();
      server.close();
    }
  }
}
