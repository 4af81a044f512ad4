package dev.tandem.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RouterTest {
  @TempDir Path dir;

  @Test
  void topKOrdersByProbabilityThenId() {
    int[] ids = new int[3];
    Router.topK(new float[] {0.1f, 0.3f, 0.05f, 0.3f, 0.25f}, ids);
    assertThat(ids).containsExactly(1, 3, 4);
  }

  @Test
  void featuresAreEntropyTopKProbabilitiesAndEmbeddings() {
    Router router = Router.random(new Router.Config(2, 3, 2, 4, 0.8f), 1);
    float[] p = {0.5f, 0.25f, 0.125f, 0.125f};
    float[] embeddings = {0, 1, 10, 11, 20, 21, 30, 31};
    float[] x = new float[router.config().inputSize()];
    router.features(p, embeddings, x);
    double entropy = -(0.5 * Math.log(0.5) + 0.25 * Math.log(0.25) + 2 * 0.125 * Math.log(0.125));
    assertThat((double) x[0]).isCloseTo(entropy, org.assertj.core.data.Offset.offset(1e-6));
    assertThat(java.util.Arrays.copyOfRange(x, 1, 7)).containsExactly(0.5f, 0.25f, 0, 1, 10, 11);
    float d = router.predict(x);
    assertThat(d).isBetween(0f, 1f);
  }

  @Test
  void savesAndLoads() throws Exception {
    Router router = Router.random(new Router.Config(3, 5, 4, 9, 0.7f), 2);
    router.save(dir);
    Router loaded = Router.load(dir);
    assertThat(loaded.config()).isEqualTo(router.config());
    float[] p = {0.2f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
    float[] embeddings = new float[9 * 4];
    for (int i = 0; i < embeddings.length; i++) embeddings[i] = i * 0.01f;
    assertThat(loaded.predictDisagreement(p, embeddings)).isEqualTo(router.predictDisagreement(p, embeddings));
  }

  @Test
  void rejectsARouterForAnotherDrafter() {
    Router router = Router.random(new Router.Config(3, 5, 4, 9, 0.7f), 2);
    assertThatThrownBy(() -> new RouterPolicy(router, new float[10 * 4], 10, 4, 5))
        .hasMessageContaining("vocabulary of 9");
    assertThatThrownBy(() -> new RouterPolicy(router, new float[9 * 4], 9, 4, 0)).hasMessageContaining("gamma-max");
    assertThatThrownBy(() -> Router.load(dir)).hasMessageContaining("no config.json");
  }
}
