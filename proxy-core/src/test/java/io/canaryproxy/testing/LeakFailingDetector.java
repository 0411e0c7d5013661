package io.canaryproxy.testing;

import io.netty.util.ResourceLeakDetector;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.Predicate;

/**
 * Netty leak detector that remembers every leak report so that a test can fail on it.
 *
 * <p>Installed for all test JVMs by the parent pom through {@code
 * -Dio.netty.customResourceLeakDetector=io.canaryproxy.testing.LeakFailingDetector}; Netty's
 * {@code ResourceLeakDetectorFactory} loads it from the system class loader and calls one of the
 * two public constructors reflectively. Reports are still logged by Netty as usual; {@link
 * NoLeaksExtension} turns recorded reports into test failures.
 */
public class LeakFailingDetector<T> extends ResourceLeakDetector<T> {

  private static final List<String> LEAKS = new ArrayList<>();
  private static volatile boolean installed;

  /** Called by Netty's factory for {@code newResourceLeakDetector(Class, int)}. */
  public LeakFailingDetector(Class<?> resourceType, int samplingInterval) {
    super(resourceType, samplingInterval);
    installed = true;
  }

  /** Called by Netty's factory for the older {@code (Class, int, long maxActive)} variant. */
  @SuppressWarnings("deprecation")
  public LeakFailingDetector(Class<?> resourceType, int samplingInterval, long maxActive) {
    super(resourceType, samplingInterval, maxActive);
    installed = true;
  }

  /** Report (and so record) even when the logger would drop ERROR messages. */
  @Override
  protected boolean needReport() {
    return true;
  }

  @Override
  protected void reportTracedLeak(String resourceType, String records) {
    record("LEAK: " + resourceType + ".release() was not called before it was garbage-collected."
        + records);
    super.reportTracedLeak(resourceType, records);
  }

  @Override
  protected void reportUntracedLeak(String resourceType) {
    record("LEAK: " + resourceType + ".release() was not called before it was garbage-collected"
        + " (no access records; leak detection level was below ADVANCED when it was allocated).");
    super.reportUntracedLeak(resourceType);
  }

  private static void record(String leak) {
    synchronized (LEAKS) {
      LEAKS.add(leak);
    }
  }

  /** True once Netty has created at least one detector of this class. */
  public static boolean isInstalled() {
    return installed;
  }

  /** The leaks recorded and not yet drained. */
  public static List<String> leaks() {
    synchronized (LEAKS) {
      return List.copyOf(LEAKS);
    }
  }

  /** Removes and returns all recorded leaks. */
  public static List<String> drainLeaks() {
    return drainLeaks(leak -> true);
  }

  /** Removes and returns the recorded leaks that match; the others stay recorded. */
  public static List<String> drainLeaks(Predicate<String> which) {
    List<String> drained = new ArrayList<>();
    synchronized (LEAKS) {
      for (Iterator<String> it = LEAKS.iterator(); it.hasNext(); ) {
        String leak = it.next();
        if (which.test(leak)) {
          drained.add(leak);
          it.remove();
        }
      }
    }
    return drained;
  }
}
