package io.canaryproxy.routing;

import io.canaryproxy.config.RoutingConfig;
import io.canaryproxy.upstream.Release;
import io.canaryproxy.upstream.Upstreams;
import io.netty.util.AsciiString;
import java.net.InetAddress;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Decides which release serves a request. On the hot path it is one volatile read of the route table, a scan of
 * the {@code Cookie} header and an integer compare; it allocates nothing.
 *
 * <p>Every user has a bucket 0..9999, kept in a cookie ({@code cp_bucket}); a request goes to the canary iff
 * {@code bucket < weight * 100}. Raising the weight therefore only moves users from stable to canary, lowering it
 * only back, and at one weight a user never flaps. A request without a valid bucket cookie is routed by a hash of
 * the client's address, so clients that keep no cookies (API clients) are sticky too, and gets a random bucket
 * cookie on the same side of the weight (see {@link #newBucket}).
 *
 * <p>Testers may pin a request, unless {@code routing.overrides} is off: header {@code X-Canary: always|never}
 * first, then cookie {@code cp_release=<release>}, then the weight.
 */
public final class Router {

    public static final AsciiString X_CANARY = AsciiString.cached("x-canary");
    /** The cookie that pins a tester to a release; the config refuses it as the sticky cookie's name. */
    public static final String RELEASE_COOKIE = "cp_release";
    private static final String RELEASE_COOKIE_EQ = RELEASE_COOKIE + "=";
    private static final AsciiString ALWAYS = AsciiString.cached("always");
    private static final AsciiString NEVER = AsciiString.cached("never");
    public static final int BUCKETS = RouteTable.FULL_WEIGHT;
    /** {@link #route} result flag: the response should set the bucket cookie. */
    static final int NO_BUCKET = -1;

    private final RouteState routes;
    private final Upstreams upstreams;
    private final String bucketCookieEq;
    private final boolean overrides;

    public Router(RouteState routes, Upstreams upstreams, RoutingConfig config) {
        this.routes = routes;
        this.upstreams = upstreams;
        this.bucketCookieEq = config.stickyCookieName() + "=";
        this.overrides = config.overrides();
    }

    /** What the router decided for one request; reused per connection so that routing allocates nothing. */
    public static final class Decision {
        Release release;
        Release fallback;
        int bucket;
        boolean setBucketCookie;
        // Scratch space of the cookie scan.
        int cookieBucket;
        int pinStart;
        int pinEnd;

        /** The release that serves the request. */
        public Release release() {
            return release;
        }

        /**
         * For a request the weight sends to the canary, the stable release, which may take it if it reaches no
         * canary endpoint at all; {@code null} otherwise (a pinned request stays where it was pinned).
         */
        public Release fallback() {
            return fallback;
        }

        /** The user's bucket, to be sent in a Set-Cookie when {@link #setBucketCookie()}. */
        public int bucket() {
            return bucket;
        }

        /** Whether the client has no valid bucket cookie yet and a canary is running. */
        public boolean setBucketCookie() {
            return setBucketCookie;
        }
    }

    /** The client's {@link #addressBucket}, worked out only for a request routed by it (no bucket cookie). */
    public interface ClientAddress {
        int addressBucket();
    }

    /** The release of that name in this router's configuration, {@code null} if it has none. */
    public Release release(String name) {
        return upstreams.release(name);
    }

    /**
     * Fills {@code out} with the release for a request with these header values. The router reads only these two,
     * as they are kept (a view of the request's bytes is scanned in place, never copied into a String).
     *
     * @param cookies the request's {@code Cookie} header, {@code null} if it has none; one header at most, as RFC
     *     6265 5.4 asks: the listener joins several into one
     * @param canaryHeader the request's {@code X-Canary} header, {@code null} if it has none
     * @param addressBucket the client's {@link #addressBucket(InetAddress)}, computed once per connection
     */
    public void route(CharSequence cookies, CharSequence canaryHeader, int addressBucket, Decision out) {
        route(cookies, canaryHeader, addressBucket, null, out);
    }

    /**
     * {@link #route(CharSequence, CharSequence, int, Decision)} for a client whose address is costly to find
     * (behind trusted proxies, in {@code X-Forwarded-For}): asked for only when a canary runs and the request has
     * no bucket.
     */
    public void route(CharSequence cookies, CharSequence canaryHeader, ClientAddress client, Decision out) {
        route(cookies, canaryHeader, 0, client, out);
    }

    private void route(CharSequence cookies, CharSequence canaryHeader, int addressBucket, ClientAddress client,
            Decision out) {
        RouteState.Routes r = routes.current();
        out.setBucketCookie = false;
        out.bucket = NO_BUCKET;
        out.fallback = null;
        scanCookies(cookies, bucketCookieEq, overrides, out);
        if (overrides) {
            Release pinned = override(canaryHeader, cookies, out, r);
            if (pinned != null) {
                out.release = pinned;
                return;
            }
        }
        Release canary = r.canary();
        int weight = r.table().weightBasisPoints();
        if (canary == null || weight == 0) {
            out.release = r.stable();
            return;
        }
        int bucket = out.cookieBucket;
        if (bucket == NO_BUCKET) {
            boolean toCanary = (client == null ? addressBucket : client.addressBucket()) < weight;
            choose(out, toCanary, canary, r.stable());
            out.bucket = newBucket(toCanary, weight);
            out.setBucketCookie = true;
            return;
        }
        out.bucket = bucket;
        choose(out, bucket < weight, canary, r.stable());
    }

    /**
     * The release for a request the weight sends to the canary or not. The canary, unless none of its endpoints can
     * serve while the stable release can: its users then get the stable release rather than errors, and keep their
     * bucket, so they are back on the canary once it recovers. (A pinned request still goes to the canary: a tester
     * asked for it.) The stable release has nowhere to send its users, so it is always tried; it is also the
     * fallback of a request that goes to the canary.
     */
    private static void choose(Decision out, boolean toCanary, Release canary, Release stable) {
        boolean canaryServes = toCanary && (canary.hasHealthyEndpoint() && canary.hasUsableEndpoint()
                || !stable.hasUsableEndpoint());
        out.release = canaryServes ? canary : stable;
        out.fallback = canaryServes ? stable : null;
    }

    private Release override(CharSequence canaryHeader, CharSequence cookies, Decision scan, RouteState.Routes r) {
        if (canaryHeader != null) {
            if (AsciiString.contentEqualsIgnoreCase(canaryHeader, ALWAYS)) {
                return r.canary() != null ? r.canary() : r.stable();
            }
            if (AsciiString.contentEqualsIgnoreCase(canaryHeader, NEVER)) {
                return r.stable();
            }
        }
        if (scan.pinStart >= 0) {
            int len = scan.pinEnd - scan.pinStart;
            for (Release release : upstreams.releases()) {
                String name = release.name();
                if (name.length() == len && AsciiString.regionMatches(cookies, false, scan.pinStart, name, 0, len)) {
                    return release;
                }
            }
        }
        return null;
    }

    /**
     * Finds the bucket and the pinned release in a {@code Cookie} header and notes them in {@code out}: one walk
     * from pair to pair (RFC 6265 5.4: {@code name=value} pairs separated by {@code "; "}), comparing names only
     * where a pair starts, so a name inside another cookie's value never counts. The first pair of a name wins.
     */
    private static void scanCookies(CharSequence cookies, String bucketNameEq, boolean pins, Decision out) {
        out.cookieBucket = NO_BUCKET;
        out.pinStart = -1;
        if (cookies == null) {
            return;
        }
        boolean wantBucket = true;
        boolean wantPin = pins;
        int length = cookies.length();
        int i = 0;
        while (i < length && (wantBucket || wantPin)) {
            while (i < length && cookies.charAt(i) == ' ') {
                i++;
            }
            int semicolon = AsciiString.indexOf(cookies, ';', i);
            int end = semicolon < 0 ? length : semicolon;
            if (wantBucket && startsWith(cookies, i, end, bucketNameEq)) {
                wantBucket = false;
                out.cookieBucket = parseBucket(cookies, i + bucketNameEq.length(), trimEnd(cookies, i, end));
            } else if (wantPin && startsWith(cookies, i, end, RELEASE_COOKIE_EQ)) {
                wantPin = false;
                out.pinStart = i + RELEASE_COOKIE_EQ.length();
                out.pinEnd = Math.max(out.pinStart, trimEnd(cookies, i, end));
            }
            i = end + 1;
        }
    }

    private static boolean startsWith(CharSequence cookies, int start, int end, String prefix) {
        int n = prefix.length();
        return end - start >= n && cookies.charAt(start) == prefix.charAt(0)
                && AsciiString.regionMatches(cookies, false, start, prefix, 0, n);
    }

    private static int trimEnd(CharSequence cookies, int start, int end) {
        while (end > start && cookies.charAt(end - 1) == ' ') {
            end--;
        }
        return end;
    }

    /**
     * The bucket in the named cookie, or {@link #NO_BUCKET} when it is absent or not a plain number 0..9999:
     * a forged or malformed bucket counts as absent and is replaced.
     */
    static int bucketOf(CharSequence cookies, String name) {
        Decision scratch = new Decision();
        scanCookies(cookies, name + "=", true, scratch);
        return scratch.cookieBucket;
    }

    private static int parseBucket(CharSequence s, int start, int end) {
        if (end - start >= 2 && s.charAt(start) == '"' && s.charAt(end - 1) == '"') {
            start++; // RFC 6265 4.1.1 lets a cookie value be quoted
            end--;
        }
        int len = end - start;
        if (len < 1 || len > 4) {
            return NO_BUCKET;
        }
        int value = 0;
        for (int i = start; i < end; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return NO_BUCKET;
            }
            value = value * 10 + (c - '0');
        }
        return value;
    }

    /**
     * A random bucket for a new cookie, on the same side of the weight as the address bucket that routed the
     * request without one: the user's next request, routed by the cookie, lands where the first one did. Over
     * users from different addresses the buckets are uniform; users behind one address start on one side but
     * spread out as the weight changes.
     */
    static int newBucket(boolean canary, int weight) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        return canary ? random.nextInt(weight) : weight + random.nextInt(BUCKETS - weight);
    }

    /** A well-mixed hash of the address bytes (the 64-bit finalizer of MurmurHash3), reduced to a bucket. */
    public static int addressBucket(InetAddress address) {
        return address == null ? 0 : addressBucket(address.getAddress());
    }

    /** {@link #addressBucket(InetAddress)} of the address with these bytes (4 for IPv4, 16 for IPv6). */
    public static int addressBucket(byte[] b) {
        long h = 0x9E3779B97F4A7C15L;
        for (byte x : b) {
            h = (h ^ (x & 0xff)) * 0xff51afd7ed558ccdL;
        }
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return (int) Long.remainderUnsigned(h, BUCKETS);
    }
}
