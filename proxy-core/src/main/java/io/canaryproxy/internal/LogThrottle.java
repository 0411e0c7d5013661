package io.canaryproxy.internal;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * At most one log line per period for a fault that may repeat thousands of times a second (a full disk, no file
 * descriptor left), counting the occurrences it held back. Lock-free: any thread may ask.
 */
public final class LogThrottle {

    private final long periodNanos;
    private final AtomicLong lastNanos;
    private final AtomicLong heldBack = new AtomicLong();

    public LogThrottle(Duration period) {
        this.periodNanos = period.toNanos();
        this.lastNanos = new AtomicLong(System.nanoTime() - periodNanos);
    }

    /**
     * Whether this occurrence may be logged: {@code -1} when a line went out within the period (this one is
     * counted), otherwise how many were held back since that line, and the period starts again.
     */
    public long allow() {
        long last = lastNanos.get();
        long now = System.nanoTime();
        if (now - last >= periodNanos && lastNanos.compareAndSet(last, now)) {
            return heldBack.getAndSet(0);
        }
        heldBack.incrementAndGet();
        return -1;
    }
}
