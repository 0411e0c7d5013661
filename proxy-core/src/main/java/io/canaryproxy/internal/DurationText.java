package io.canaryproxy.internal;

import java.time.Duration;

/** A duration as a config file would say it, for logs and reports: {@code 30s}, {@code 1500ms}, {@code 1d}. */
public final class DurationText {

    private DurationText() {
    }

    /** The largest unit that says {@code d} exactly (days, hours, minutes, seconds), else milliseconds. */
    public static String of(Duration d) {
        long ms = d.toMillis();
        if (ms != 0 && ms % 86_400_000 == 0) {
            return ms / 86_400_000 + "d";
        }
        if (ms != 0 && ms % 3_600_000 == 0) {
            return ms / 3_600_000 + "h";
        }
        if (ms != 0 && ms % 60_000 == 0) {
            return ms / 60_000 + "m";
        }
        return ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms";
    }
}
