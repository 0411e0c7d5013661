package io.canaryproxy.listener;

import io.netty.handler.codec.http.HttpRequest;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One WARN line per request the proxy could not serve from its upstream (a {@code 502}, {@code 503} or {@code 504},
 * or a response cut off), like nginx's error log: what failed, for whom, and why. Also one per request that an
 * endpoint took on a new connection and dropped, and that went on to another endpoint: the client may have been
 * served, but a worker crashed or was killed on that request, and the application's log does not say which
 * request it was. And one per request a graceful stop cut off when {@code drain.timeout} ran out. A release that
 * goes down takes
 * every request with it, so at most {@value #PER_SECOND} lines are written a second, across the event loops; the
 * next line written says how many were left out since when, or, once a second has passed without a failure, a line
 * of its own, so that the end of an outage is counted too. The target is logged without its query. The counts per
 * kind are in {@code /metrics} either way.
 */
final class UpstreamFailureLog {

    static final int PER_SECOND = 20;
    private static final int MAX_TARGET_CHARS = 200;
    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);
    private static final Logger log = LoggerFactory.getLogger(UpstreamFailureLog.class);
    /** Always with its seconds: LocalTime's own text leaves out ":00". */
    static final DateTimeFormatter CLOCK_TIME = DateTimeFormatter.ofPattern("HH:mm:ss")
            .withZone(ZoneId.systemDefault());

    private final AtomicLong windowStart;
    private final AtomicInteger inWindow = new AtomicInteger();

    /**
     * Guards the count of failures left out and when the first of them came, which are read and reset together.
     * Taken on failures only, never by a request that is served.
     */
    private final Object lock = new Object();
    private int leftOut;
    private long firstLeftOutMillis;
    /** Whether {@link #tally} is due to run. */
    private boolean tallyScheduled;
    /** Whether a failure came since {@link #tally} was last scheduled: the outage goes on. */
    private boolean failedSinceScheduled;

    /** Runs a task a second from now: the count of failures left out, when no later line has carried it. */
    private final Consumer<Runnable> inASecond;

    UpstreamFailureLog(ScheduledExecutorService scheduler) {
        this(System.nanoTime(), task -> scheduler.schedule(task, 1, TimeUnit.SECONDS));
    }

    UpstreamFailureLog(long startNanos, Consumer<Runnable> inASecond) {
        windowStart = new AtomicLong(startNanos);
        this.inASecond = inASecond;
    }

    /**
     * {@code status} is what the client got: the proxy's own error status, or, for a response cut off, the status
     * it had begun with.
     */
    void failed(int status, HttpRequest request, String client, String release, String why) {
        failed(status, request, client, release, why, System.nanoTime());
    }

    void failed(int status, HttpRequest request, String client, String release, String why, long nowNanos) {
        write(Integer.toString(status), request, client, release, why, nowNanos);
    }

    /** A request the proxy's own stop cut off, {@code drain.timeout} having run out before it ended. */
    void cut(HttpRequest request, String client, String release, String why) {
        write("cut", request, client, release, why, System.nanoTime());
    }

    /** {@code why} says what the endpoint did and where the request went next. */
    void sentOn(HttpRequest request, String client, String release, String why) {
        write("retried", request, client, release, why, System.nanoTime());
    }

    private void write(String outcome, HttpRequest request, String client, String release, String why,
                       long nowNanos) {
        if (!log.isWarnEnabled()) {
            return;
        }
        if (!admit(nowNanos)) {
            leaveOut();
            return;
        }
        int skipped;
        long since;
        synchronized (lock) {
            failedSinceScheduled = true;
            skipped = leftOut;
            since = firstLeftOutMillis;
            leftOut = 0;
        }
        String line = request == null ? "-" : request.method() + " " + pathOf(request.uri());
        if (skipped == 0) {
            log.warn("{} {} from {} (release {}): {}", outcome, line, client, release, why);
        } else {
            log.warn("{} {} from {} (release {}): {} ({} more upstream failures since {} not logged)", outcome,
                    line, client, release, why, skipped, CLOCK_TIME.format(Instant.ofEpochMilli(since)));
        }
    }

    /** Counts in windows of a second; a race at a window's edge lets a line or two more through, which is fine. */
    private boolean admit(long now) {
        long start = windowStart.get();
        if (now - start >= SECOND && windowStart.compareAndSet(start, now)) {
            inWindow.set(0);
        }
        return inWindow.incrementAndGet() <= PER_SECOND;
    }

    private void leaveOut() {
        synchronized (lock) {
            failedSinceScheduled = true;
            if (leftOut++ == 0) {
                firstLeftOutMillis = System.currentTimeMillis();
            }
            if (tallyScheduled) {
                return;
            }
            tallyScheduled = true;
            failedSinceScheduled = false;
        }
        schedule();
    }

    private void schedule() {
        try {
            inASecond.accept(this::tally);
        } catch (RejectedExecutionException shuttingDown) {
            // the proxy is stopping; its last failures go uncounted in the log, not in /metrics
            synchronized (lock) {
                tallyScheduled = false;
            }
        }
    }

    /**
     * Writes at once how many failures were left out, if any: a stopping proxy does not wait a second for its last
     * count, and the requests it cut are among them. The tally still scheduled then finds nothing to say.
     */
    void flush() {
        int skipped;
        long since;
        synchronized (lock) {
            if (leftOut == 0) {
                return;
            }
            skipped = leftOut;
            since = firstLeftOutMillis;
            leftOut = 0;
        }
        log.warn("{} more upstream failures since {} not logged", skipped,
                CLOCK_TIME.format(Instant.ofEpochMilli(since)));
    }

    /**
     * Writes how many failures were left out once a second has passed without any, unless a line written since has
     * said it. While the outage goes on, the lines it writes carry the count: a line of this one's own then would
     * be one more than {@value #PER_SECOND} in its second.
     */
    private void tally() {
        int skipped;
        long since;
        synchronized (lock) {
            if (leftOut == 0) {
                tallyScheduled = false;
                return;
            }
            if (failedSinceScheduled) {
                failedSinceScheduled = false;
                schedule();
                return;
            }
            tallyScheduled = false;
            skipped = leftOut;
            since = firstLeftOutMillis;
            leftOut = 0;
        }
        log.warn("{} more upstream failures since {} not logged", skipped,
                CLOCK_TIME.format(Instant.ofEpochMilli(since)));
    }

    /**
     * The target without its query, cut at {@value #MAX_TARGET_CHARS} characters: a query may carry a token (a
     * password reset link, an API key), and this log is kept and shipped more widely than an access log.
     */
    static String pathOf(String uri) {
        int query = uri.indexOf('?');
        String path = query < 0 ? uri : uri.substring(0, query);
        String cut = path.length() <= MAX_TARGET_CHARS ? path : path.substring(0, MAX_TARGET_CHARS) + "…";
        return escapeRawBytes(query < 0 ? cut : cut + "?…");
    }

    /**
     * Raw bytes from 0x80 in a target (one char each, as the decoder read them) written as {@code %XX}, the form
     * the application sees them in: printed as they are they would be mojibake, and some terminals take 0x9b for
     * the start of a control sequence.
     */
    private static String escapeRawBytes(String path) {
        StringBuilder out = null;
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c >= 0x80 && c <= 0xff) {
                if (out == null) {
                    out = new StringBuilder(path.length() + 16).append(path, 0, i);
                }
                out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? path : out.toString();
    }
}
