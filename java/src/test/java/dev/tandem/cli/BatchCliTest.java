package dev.tandem.cli;

import static dev.tandem.cli.CliTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tandem batch: the OpenAI Batch line format, per-line errors, and resuming after kill -9. */
class BatchCliTest {
  @TempDir static Path dir;
  static Path primary, drafter;
  private static final ObjectMapper JSON = new ObjectMapper();

  @BeforeAll
  static void models() throws Exception {
    primary = dir.resolve("primary");
    SpeedCliTest.ok(run("init", "--config", SpeedCliTest.config(dir, "p", 64, 4, 300).toString(), "--out",
        primary.toString(), "--seed", "3"));
    drafter = dir.resolve("drafter");
    SpeedCliTest.ok(run("init", "--config", SpeedCliTest.config(dir, "d", 16, 2, 300).toString(), "--out",
        drafter.toString(), "--tokenizer", primary.resolve("tokenizer.json").toString()));
  }

  private static List<JsonNode> lines(Path file) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) out.add(JSON.readTree(line));
    return out;
  }

  @Test
  void oneResultLinePerRequestInOrderWithPerLineErrors() throws Exception {
    Path input = dir.resolve("in.jsonl"), output = dir.resolve("out.jsonl");
    Files.write(input, ("{\"custom_id\": \"a\", \"method\": \"POST\", \"url\": \"/v1/completions\", \"body\":"
        + " {\"model\": \"primary\", \"prompt\": \"hello there\", \"max_tokens\": 7, \"temperature\": 0}}\n"
        + "{broken\n"
        + "\n"
        + "{\"custom_id\": \"b\", \"body\": {\"prompt\": [5, 6, 7], \"max_tokens\": 5, \"temperature\": 0.9, \"seed\": 1}}\n"
        + "{\"custom_id\": \"c\", \"body\": {\"prompt\": \"x\", \"temperature\": 7}}\n"
        + "{\"custom_id\": \"d\", \"body\": {\"prompt\": \"x\", \"model\": \"other\"}}\n"
        + "{\"custom_id\": \"b\", \"body\": {\"prompt\": \"again\"}}\n").getBytes(StandardCharsets.UTF_8));
    CliTest.Run r = run("batch", "--model", primary.toString(), "--drafter", drafter.toString(), "--input",
        input.toString(), "--output", output.toString(), "--concurrency", "3", "--device", "cpu");
    SpeedCliTest.ok(r);
    List<JsonNode> out = lines(output);
    assertThat(out).hasSize(6);
    assertThat(out.stream().map(n -> n.get("id").asText()).toList())
        .containsExactly("batch_req_1", "batch_req_2", "batch_req_4", "batch_req_5", "batch_req_6", "batch_req_7");
    JsonNode a = out.get(0).get("response");
    assertThat(a.get("status_code").asInt()).isEqualTo(200);
    JsonNode body = a.get("body");
    assertThat(body.get("object").asText()).isEqualTo("text_completion");
    assertThat(body.get("usage").get("completion_tokens").asInt()).isEqualTo(7);
    assertThat(body.get("usage").get("prompt_tokens").asInt()).isPositive();
    assertThat(body.get("usage").get("speculation").has("mean_accepted_length")).isTrue();
    // Greedy: the same text as tandem generate.
    CliTest.Run g = run("generate", "--model", primary.toString(), "--prompt", "hello there", "--max-tokens", "7",
        "--greedy", "--json", "--device", "cpu", "--ignore-eos");
    SpeedCliTest.ok(g);
    assertThat(body.get("choices").get(0).get("text").asText()).isEqualTo(JSON.readTree(g.out()).get("text").asText());
    assertThat(out.get(1).get("error").get("message").asText()).startsWith("line 2: not valid JSON");
    assertThat(out.get(2).get("response").get("body").get("choices").get(0).get("finish_reason").asText())
        .isEqualTo("length");
    JsonNode c = out.get(3).get("response");
    assertThat(c.get("status_code").asInt()).isEqualTo(400);
    assertThat(c.get("body").get("error").get("param").asText()).isEqualTo("temperature");
    assertThat(c.get("body").get("error").get("message").asText()).startsWith("line 5: ");
    assertThat(out.get(4).get("response").get("status_code").asInt()).isEqualTo(404);
    assertThat(out.get(5).get("error").get("code").asText()).isEqualTo("duplicate_custom_id");
  }

  /**
   * Killed with SIGKILL at random moments and run again each time with the same output, the batch ends
   * with every request exactly once, byte for byte what one uninterrupted run writes.
   */
  @Test
  void killedAtRandomMomentsAndResumedEqualsAnUninterruptedRun() throws Exception {
    Path input = dir.resolve("many.jsonl");
    StringBuilder lines = new StringBuilder();
    SplittableRandom random = new SplittableRandom(7);
    for (int i = 0; i < 40; i++) {
      lines.append(String.format("{\"custom_id\": \"r%d\", \"body\": {\"prompt\": \"request number %d says\","
          + " \"max_tokens\": %d, \"temperature\": %s, \"ignore_eos\": true}}%n", i, i, 8 + random.nextInt(50),
          i % 3 == 0 ? "0.8" : "0"));
    }
    Files.writeString(input, lines.toString());
    Path whole = dir.resolve("whole.jsonl");
    String[] args = {"batch", "--model", primary.toString(), "--drafter", drafter.toString(), "--input",
        input.toString(), "--concurrency", "4", "--speculation", "fixed", "--device", "cpu", "--threads", "1"};
    SpeedCliTest.ok(run(concat(args, "--output", whole.toString())));

    Path resumed = dir.resolve("resumed.jsonl");
    String java = ProcessHandle.current().info().command().orElseThrow();
    List<String> command = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
    command.addAll(List.of(concat(args, "--output", resumed.toString())));
    int kills = 0, midRun = 0;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (true) {
      long before = lineCount(resumed);
      Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(dir.resolve("log.txt").toFile())
          .start();
      if (kills < 10) {
        // Every third kill at a random moment of start-up or work; the others once the run has written
        // a line of its own, a little later, so most land in the middle of the output.
        if (kills % 3 == 0) {
          p.waitFor(100 + random.nextInt(1500), TimeUnit.MILLISECONDS);
        } else {
          while (p.isAlive() && lineCount(resumed) == before && System.nanoTime() < deadline) Thread.sleep(10);
          Thread.sleep(random.nextInt(150));
        }
        if (p.isAlive()) {
          p.destroyForcibly().waitFor();  // SIGKILL
          kills++;
          long written = lineCount(resumed);
          if (written > 0 && written < 40) midRun++;
          continue;
        }
      }
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).as(Files.readString(dir.resolve("log.txt"))).isZero();
      break;
    }
    assertThat(System.nanoTime()).isLessThan(deadline);
    System.out.println("batch resumed after " + kills + " kills, " + midRun + " of them mid-run");
    assertThat(midRun).as("runs killed with part of the output written").isPositive();
    assertThat(Files.readString(resumed)).isEqualTo(Files.readString(whole));
  }

  private static long lineCount(Path file) throws java.io.IOException {
    if (!Files.exists(file)) return 0;
    long n = 0;
    for (byte b : Files.readAllBytes(file)) if (b == '\n') n++;
    return n;
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
