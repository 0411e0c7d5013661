package io.canaryproxy.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class when Netty reported a leaked buffer (or other tracked resource) while it ran.
 *
 * <p>Registered for every test class through {@code META-INF/services} and {@code
 * junit.jupiter.extensions.autodetection.enabled=true}. Needs {@link LeakFailingDetector} to be
 * Netty's detector (the parent pom's surefire argLine does that). After all tests of a class it
 * runs the garbage collector and allocates a few buffers, because Netty only looks for collected,
 * unreleased buffers when the next buffer is allocated; then it fails if any leak was recorded.
 * A leak found here may have been made by an earlier test class of the same JVM: the report's
 * access records tell where the buffer was allocated and used.
 */
public final class NoLeaksExtension implements AfterAllCallback {

  private static final int GC_ROUNDS = 3;

  @Override
  public void afterAll(ExtensionContext context) {
    assertNoLeaks(context.getDisplayName(), leak -> true);
  }

  /**
   * Provokes leak reports, then drains the recorded leaks that match {@code which} and throws an
   * {@link AssertionError} listing them, if there are any. Leaks that do not match stay recorded.
   */
  public static void assertNoLeaks(String where, Predicate<String> which) {
    List<String> leaks = collectLeaks(which);
    if (!leaks.isEmpty()) {
      StringBuilder message = new StringBuilder()
          .append(leaks.size()).append(" Netty resource leak(s) detected after ").append(where)
          .append(" (possibly made by an earlier test class in the same JVM):");
      for (int i = 0; i < leaks.size(); i++) {
        message.append("\n\n#").append(i + 1).append(' ').append(leaks.get(i));
      }
      throw new AssertionError(message.toString());
    }
  }

  /** Provokes leak reports, then drains and returns all recorded leaks. */
  public static List<String> collectLeaks() {
    return collectLeaks(leak -> true);
  }

  /** Provokes leak reports, then drains and returns the recorded leaks that match. */
  public static List<String> collectLeaks(Predicate<String> which) {
    provokeLeakReports();
    return LeakFailingDetector.drainLeaks(which);
  }

  /**
   * Runs the collector a few times and after each run allocates and releases buffers from the
   * usual allocators, so that Netty polls its reference queues and reports what was collected
   * without being released. Each round waits until a sentinel weak reference of its own has been
   * enqueued, i.e. until reference processing for that collection has happened.
   */
  public static void provokeLeakReports() {
    for (int round = 0; round < GC_ROUNDS; round++) {
      ReferenceQueue<Object> queue = new ReferenceQueue<>();
      WeakReference<Object> sentinel = new WeakReference<>(new Object(), queue);
      System.gc();
      try {
        queue.remove(2_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      sentinel.clear();
      allocateAndRelease(ByteBufAllocator.DEFAULT);
      allocateAndRelease(PooledByteBufAllocator.DEFAULT);
      allocateAndRelease(UnpooledByteBufAllocator.DEFAULT);
    }
  }

  private static void allocateAndRelease(ByteBufAllocator allocator) {
    ByteBuf heap = allocator.heapBuffer(16);
    heap.release();
    ByteBuf direct = allocator.directBuffer(16);
    direct.release();
  }
}
