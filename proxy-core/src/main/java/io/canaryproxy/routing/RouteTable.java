package io.canaryproxy.routing;

import java.math.BigDecimal;
import java.time.Instant;
import java.util.Objects;

/**
 * Which release serves which share of users. Immutable: every change builds a new table, and the data plane reads
 * the current one with a single volatile load.
 *
 * @param stable            the release that gets every request not sent to the canary
 * @param canary            the canary release, or {@code null}
 * @param weightBasisPoints the canary's share in hundredths of a percent, 0..10000
 * @param version           increases by one on every change
 * @param changedAt         when this table was made
 */
public record RouteTable(String stable, String canary, int weightBasisPoints, long version, Instant changedAt) {

    public static final int FULL_WEIGHT = 10_000;

    public RouteTable {
        Objects.requireNonNull(stable, "stable");
        if (weightBasisPoints < 0 || weightBasisPoints > FULL_WEIGHT) {
            throw new IllegalArgumentException("weight must be within 0..10000 basis points: " + weightBasisPoints);
        }
        if (canary == null && weightBasisPoints != 0) {
            throw new IllegalArgumentException("a weight needs a canary release");
        }
        if (stable.equals(canary)) {
            throw new IllegalArgumentException("the canary cannot be the stable release: " + stable);
        }
    }

    /** Whether new requests may be routed to {@code release}. */
    public boolean routes(String release) {
        return stable.equals(release) || (release.equals(canary) && weightBasisPoints > 0);
    }

    /** {@code release} stable at 100 %, no canary. */
    public RouteTable switchTo(String release) {
        return new RouteTable(release, null, 0, version + 1, Instant.now());
    }

    /** {@code release} as canary at {@code weightBasisPoints}, the stable release unchanged. */
    public RouteTable withCanary(String release, int weightBasisPoints) {
        return new RouteTable(stable, release, weightBasisPoints, version + 1, Instant.now());
    }

    /** The canary becomes stable at 100 %. */
    public RouteTable promote() {
        if (canary == null) {
            throw new IllegalStateException("there is no canary to promote");
        }
        return new RouteTable(canary, null, 0, version + 1, Instant.now());
    }

    /** The canary gets no more traffic; the stable release is untouched. */
    public RouteTable rollback() {
        if (canary == null) {
            throw new IllegalStateException("there is no canary to roll back");
        }
        return new RouteTable(stable, null, 0, version + 1, Instant.now());
    }

    /** The weight as a percentage, e.g. {@code 12.5}. */
    public double weightPercent() {
        return weightBasisPoints / 100.0;
    }

    /** For a log line: {@code blue}, or {@code blue + canary green at 12.5%}. */
    public String describe() {
        if (canary == null) {
            return stable;
        }
        return stable + " + canary " + canary + " at "
                + BigDecimal.valueOf(weightBasisPoints, 2).stripTrailingZeros().toPlainString() + "%";
    }
}
