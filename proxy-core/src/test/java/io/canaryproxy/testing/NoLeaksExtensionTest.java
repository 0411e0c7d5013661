package io.canaryproxy.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Proves that a leaked buffer is caught. The leak is made on purpose and then claimed by this
 * test (only records carrying its unique marker are drained), so the suite stays green while any
 * other leak still fails the class.
 */
class NoLeaksExtensionTest {

  @Test
  void leakDetectorIsInstalledAtParanoidLevel() {
    ByteBufAllocator.DEFAULT.buffer(1).release(); // makes Netty create its ByteBuf detector
    assertThat(LeakFailingDetector.isInstalled())
        .as("run tests with -Dio.netty.customResourceLeakDetector="
            + LeakFailingDetector.class.getName() + " (the parent pom's surefire argLine)")
        .isTrue();
    assertThat(ResourceLeakDetector.getLevel()).isEqualTo(ResourceLeakDetector.Level.PARANOID);
  }

  @Test
  void aLeakedBufferIsReportedAndFailsTheCheck() {
    String marker = "deliberate-leak-" + UUID.randomUUID();
    leakOneBuffer(marker);

    await("Netty reporting the deliberately leaked buffer")
        .atMost(Duration.ofSeconds(20))
        .pollInterval(Duration.ofMillis(50))
        .until(() -> {
          NoLeaksExtension.provokeLeakReports();
          return LeakFailingDetector.leaks().stream().anyMatch(l -> l.contains(marker));
        });

    assertThatThrownBy(() -> NoLeaksExtension.assertNoLeaks("the deliberate leak",
        leak -> leak.contains(marker)))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("1 Netty resource leak(s) detected")
        .hasMessageContaining("ByteBuf.release() was not called")
        .hasMessageContaining(marker);
    assertThat(LeakFailingDetector.leaks()).noneMatch(l -> l.contains(marker));
  }

  @Test
  void releasedBuffersAreNotReported() {
    String marker = "released-" + UUID.randomUUID();
    ByteBuf buffer = ByteBufAllocator.DEFAULT.directBuffer(64);
    buffer.touch(marker);
    buffer.release();
    assertThat(NoLeaksExtension.collectLeaks(l -> l.contains(marker))).isEmpty();
  }

  /** In its own frame so that no local variable keeps the buffer reachable. */
  private static void leakOneBuffer(String marker) {
    ByteBuf buffer = ByteBufAllocator.DEFAULT.directBuffer(64);
    buffer.writeLong(42);
    buffer.touch(marker);
  }
}
