package dev.tandem.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.cli.Main;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * tandem serve as a process: SIGTERM during a stream longer than the grace period cancels it, the
 * stream still ends with its finish chunk and [DONE], and the process exits 0.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServeShutdownTest {
  @TempDir Path dir;

  @Test
  void sigtermDuringAStreamDrainsAndExitsZero() throws Exception {
    Path primary = ServerFixture.models(dir, 4096)[0];  // room for a stream longer than the grace period
    String java = ProcessHandle.current().info().command().orElseThrow();
    List<String> command = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), Main.class.getName(),
        "serve", "--model", primary.toString(), "--port", "0", "--grace-period", "0", "--device", "cpu",
        "--threads", "1", "--max-concurrency", "2"));
    Path log = dir.resolve("serve.log");
    Process p = new ProcessBuilder(command).redirectError(log.toFile()).start();
    try {
      BufferedReader stdout = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      CompletableFuture<String> ready = CompletableFuture.supplyAsync(() -> {
        try {
          for (String line; (line = stdout.readLine()) != null; ) if (line.contains("listening on ")) return line;
          return null;
        } catch (java.io.IOException e) {
          return null;
        }
      });
      String line = ready.get(60, TimeUnit.SECONDS);
      assertThat(line).as(Files.readString(log)).isNotNull();
      URI uri = URI.create(line.replaceAll(".*listening on (\\S+).*", "$1"));
      assertThat(uri.getHost()).isEqualTo("127.0.0.1");

      String body = "{\"prompt\": \"keep going\", \"max_tokens\": 4000, \"ignore_eos\": true, \"stream\": true}";
      String stream;
      try (Socket socket = new Socket("127.0.0.1", uri.getPort())) {
        OutputStream out = socket.getOutputStream();
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: "
            + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
        out.flush();
        InputStream in = socket.getInputStream();
        StringBuilder seen = new StringBuilder();
        byte[] buffer = new byte[4096];
        boolean signalled = false;
        for (int n; (n = in.read(buffer)) > 0; ) {
          seen.append(new String(buffer, 0, n, StandardCharsets.UTF_8));
          if (!signalled && seen.indexOf("token_ids") >= 0) {
            p.destroy();  // SIGTERM, mid-stream
            signalled = true;
          }
        }
        stream = seen.toString();
        assertThat(signalled).as(stream).isTrue();
      }
      // Far longer than the grace period (0 s): cancelled, and the stream still ends properly.
      assertThat(stream).contains("\"finish_reason\":\"abort\"");
      System.out.println("SIGTERM test: the stream ended with " + stream.replaceAll("(?s).*\"finish_reason\":\"(\\w+)\".*", "$1")
          + " after " + (stream.split("token_ids").length - 1) + " tokens");
      assertThat(stream).contains("data: [DONE]");
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).as(Files.readString(log)).isZero();
      assertThat(Files.readString(log)).contains("shutting down", "stopped");
      assertThatThrownBy(() -> new Socket("127.0.0.1", uri.getPort()).close()).isInstanceOf(ConnectException.class);
    } finally {
      p.destroyForcibly();
    }
  }
}
