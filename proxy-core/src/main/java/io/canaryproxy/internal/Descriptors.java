package io.canaryproxy.internal;

import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's file descriptors: each client connection, upstream connection, health check and spool file takes
 * one. When they run out, nothing the proxy tries to open works, and that is the proxy's own limit, not a fault of
 * the endpoint it was connecting to or of the client it was accepting: the operator hears of it in one line every
 * ten seconds at most, however many connects, accepts and checks fail meanwhile.
 */
public final class Descriptors {

    private static final Logger log = LoggerFactory.getLogger(Descriptors.class);
    /** Below this an ordinary day's connections can exhaust the limit (nginx's default is 1,024 per worker). */
    private static final long LOW_LIMIT = 4096;
    private static final LogThrottle reports = new LogThrottle(Duration.ofSeconds(10));

    private Descriptors() {
    }

    /** The process's open-files limit, or -1 where the platform does not tell. */
    public static long limit() {
        OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.UnixOperatingSystemMXBean unix ? unix.getMaxFileDescriptorCount() : -1;
    }

    /** The reason to give for something that could not be opened: {@code the proxy is out of file descriptors …}. */
    public static String shortage() {
        long limit = limit();
        return "the proxy is out of file descriptors" + (limit > 0 ? " (open-files limit " + limit + ")" : "");
    }

    /**
     * Tells the operator that {@code what} (e.g. {@code accept a connection on 0.0.0.0:8080}) failed for want of a
     * descriptor: logged at once, then once every ten seconds at most, with how many more failed in between.
     */
    public static void report(String what) {
        long more = reports.allow();
        if (more >= 0) {
            log.error("{}: cannot {}{}; raise LimitNOFILE (systemd) or minfds (supervisord), or `ulimit -n`",
                    shortage(), what, more > 0 ? " (and " + more + " more failures since the last report)" : "");
        }
    }

    /** At startup: a warning when the open-files limit is low enough to be reached on an ordinary day. */
    public static void warnIfLow() {
        long limit = limit();
        if (limit > 0 && limit < LOW_LIMIT) {
            log.warn("the open-files limit is {}: every client connection and every upstream connection takes one, so"
                    + " about {} requests at once exhaust it; raise LimitNOFILE (systemd) or minfds (supervisord),"
                    + " or `ulimit -n`, to {} or more", limit, limit / 2, LOW_LIMIT);
        }
    }
}
