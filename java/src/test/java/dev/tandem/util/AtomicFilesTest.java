package dev.tandem.util;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Stale temporaries of a target are removed by its next write; a live writer's ones and others are kept. */
class AtomicFilesTest {
  @TempDir Path dir;

  @Test
  void nextWriteRemovesTheTemporariesOfDeadWritersOnly() throws Exception {
    ProcessHandle self = ProcessHandle.current();
    String live = self.pid() + "-" + self.info().startInstant().orElseThrow().toEpochMilli();
    Path target = dir.resolve("m.gguf");
    Path mine = Files.writeString(dir.resolve(".m.gguf." + live + ".1a2b.tmp"), "live writer");
    Path dead = Files.writeString(dir.resolve(".m.gguf.2147483646-17.3c4d.tmp"), "killed writer");
    Path reused = Files.writeString(dir.resolve(".m.gguf." + self.pid() + "-1.5e6f.tmp"), "pid reused");
    Path old = Files.writeString(dir.resolve(".m.gguf.8123456789012345678.tmp"), "older version");
    Path deadDir = Files.createDirectories(dir.resolve(".m.gguf.2147483646-17.77.tmpdir").resolve("sub"));
    Path other = Files.writeString(dir.resolve(".other.gguf.2147483646-17.3c4d.tmp"), "another target");
    Path notOurs = Files.writeString(dir.resolve(".m.gguf.notes.tmp"), "not a temporary of ours");

    AtomicFiles.writeString(target, "done");

    assertThat(Files.readString(target)).isEqualTo("done");
    assertThat(mine).exists();
    assertThat(other).exists();
    assertThat(notOurs).exists();
    assertThat(dead).doesNotExist();
    assertThat(reused).doesNotExist();
    assertThat(old).doesNotExist();
    assertThat(deadDir.getParent()).doesNotExist();
  }

  @Test
  void anUnwritableTargetIsNamedNotTheTemporary() {
    Path target = dir.resolve("no-such-dir-file").resolve("x.gguf");
    try {
      Files.writeString(dir.resolve("no-such-dir-file"), "a file, not a directory");
    } catch (java.io.IOException e) {
      throw new AssertionError(e);
    }
    assertThatThrownBy(() -> AtomicFiles.writeString(target, "x")).hasMessageStartingWith("cannot write " + target)
        .hasMessageNotContaining(".tmp");
  }
}
