package io.canaryproxy.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigList;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigOrigin;
import com.typesafe.config.ConfigUtil;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Turns a resolved config (layers merged, {@code reference.conf} included) into a {@link ProxyConfig}, collecting
 * every problem before failing. Used once per load; not thread-safe.
 */
final class ConfigBinder {

    private static final String ROOT = ConfigLoader.ROOT;
    private static final String RELEASES = "releases";
    private static final String ANALYSIS = "analysis";
    private static final String WEBHOOKS = "webhooks";
    /** Event loops beyond this only cost memory and file descriptors; each needs an eventfd and an epoll set. */
    private static final int MAX_THREADS = 1024;
    private static final Set<String> WEBHOOK_KEYS = Set.of("name", "url", "events", "timeout");
    private static final Set<String> RELEASE_KEYS = Set.of("endpoints", "static");
    private static final Set<String> STATIC_KEYS = Set.of("prefix", "root");

    private static final Pattern RELEASE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]*");
    private static final Pattern IPV4 = Pattern.compile("(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}");
    private static final Pattern IPV6_CHARS = Pattern.compile("[0-9A-Fa-f:.]+");
    /** RFC 6265 cookie-name: an RFC 7230 token. */
    private static final Pattern TOKEN = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");

    private static final String WHOLE_NUMBER = "a whole number";
    private static final String DURATION = "a duration such as 2s or 500ms";
    /**
     * Typesafe Config saturates a longer duration to the largest count of nanoseconds a long holds, so that
     * {@code 1000000d} would read as about 292 years and be shown so; refused instead.
     */
    static final Duration SATURATED = Duration.ofNanos(Long.MAX_VALUE);
    static final String AT_MOST = "at most 106751d";
    private static final String SIZE = "a size such as 16k or 50m";
    private static final String POSITIVE = ", greater than 0";
    private static final String ENDPOINT_EXAMPLE = "\"127.0.0.1:8001\" or \"unix:/run/app/blue.sock\"";

    private final Config merged;
    private final ConfigObject reference;
    private final List<String> problems = new ArrayList<>();

    /**
     * @param merged    the resolved configuration holding the {@code proxy} root
     * @param reference the defaults, holding the {@code proxy} root
     */
    ConfigBinder(Config merged, Config reference) {
        this.merged = merged;
        this.reference = (ConfigObject) reference.root().get(ROOT);
    }

    ProxyConfig bind() {
        ConfigValue rootValue = merged.root().get(ROOT);
        if (!(rootValue instanceof ConfigObject root)) {
            throw ConfigException.badValue(ROOT, rootValue,
                    "an object holding the proxy keys, such as proxy { listen = \"0.0.0.0:8080\" }" + where(rootValue));
        }
        checkKeys(root, reference, List.of());

        HostPort listen = hostPort(path("listen"));
        Long threads = wholeNumber(path("threads"), 0, MAX_THREADS, " (0 = one per core)");
        TransportChoice transport = transport(path("transport"));
        List<String> trustedProxies = trustedProxies(path("trusted-proxies"));
        AdminConfig admin = admin(listen);
        Path stateFile = stateFile(path("state-file"));
        Map<String, ReleaseConfig> releases = releases(root);
        RoutingConfig routing = routing(releases);
        HealthCheckConfig healthCheck = healthCheck();
        UpstreamConfig upstream = upstream();
        LimitsConfig limits = limits();
        Duration drainTimeout = duration(path("drain.timeout"), true, ", 0 or more");
        StaticFilesSettings staticFiles = staticFilesSettings();
        // A proxy.analysis that is no object has been reported by checkKeys.
        AnalysisConfig analysis = root.get(ANALYSIS) instanceof ConfigObject
                ? AnalysisConfig.read(merged.getConfig(ROOT), problems) : null;

        if (!problems.isEmpty()) {
            throw ConfigException.of(problems);
        }
        int eventLoops = threads == 0 ? Runtime.getRuntime().availableProcessors() : threads.intValue();
        return new ProxyConfig(listen, eventLoops, transport, trustedProxies, admin, stateFile, releases, routing,
                healthCheck, upstream, limits, new DrainConfig(drainTimeout), merged.getConfig(ROOT), staticFiles,
                analysis);
    }

    // ---------------------------------------------------------------------------------------------- sections

    private AdminConfig admin(HostPort listen) {
        List<String> listenPath = path("admin.listen");
        List<String> tokenPath = path("admin.token");
        HostPort adminListen = hostPort(listenPath);
        String token = string(tokenPath);
        if (adminListen != null && token != null && token.isEmpty() && !isLoopback(adminListen.host())) {
            ConfigValue tokenValue = lookup(tokenPath);
            String where = where(tokenValue).isEmpty() ? where(lookup(listenPath)) : where(tokenValue);
            problems.add(ConfigException.badValue(key(tokenPath), tokenValue, "a token, since proxy.admin.listen = \""
                    + adminListen + "\" is not a loopback address and the admin API can switch releases").getMessage()
                    + where);
        }
        if (token != null && !token.chars().allMatch(c -> c > ' ' && c < 0x7f)) {
            // The value is a secret: said by what is wrong with it, not shown.
            problems.add(key(tokenPath) + ": expected printable ASCII without spaces, which a client can send as a"
                    + " Bearer token (ctl refuses anything else), but it has " + (token.chars().anyMatch(c -> c >= 0x7f)
                    ? "a character outside ASCII" : "a space or a control character") + where(lookup(tokenPath)));
        }
        if (adminListen != null && listen != null && adminListen.port() != 0 && adminListen.port() == listen.port()
                && hostsOverlap(adminListen.host(), listen.host())) {
            bad(listenPath, "an address other than proxy.listen = \"" + listen + "\"");
        }
        return adminListen == null || token == null ? null : new AdminConfig(adminListen, token);
    }

    private TransportChoice transport(List<String> path) {
        ConfigValue value = lookup(path);
        TransportChoice choice = value != null && value.valueType() == ConfigValueType.STRING
                ? TransportChoice.parse((String) value.unwrapped())
                : null;
        if (choice == null) {
            bad(path, value, "one of auto, epoll, io_uring, nio");
        }
        return choice;
    }

    private Path stateFile(List<String> path) {
        String text = string(path);
        if (text == null || text.isEmpty()) {
            return null;
        }
        try {
            return Path.of(text);
        } catch (InvalidPathException e) {
            bad(path, "a file path, or \"\" to keep no state: " + e.getReason());
            return null;
        }
    }

    private List<String> trustedProxies(List<String> path) {
        List<ConfigValue> items = list(path, "a list of IP addresses or CIDR ranges such as [\"10.0.0.1\", \"192.168.0.0/16\"]");
        if (items == null) {
            return null;
        }
        List<String> result = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            ConfigValue item = items.get(i);
            String text = item.valueType() == ConfigValueType.STRING ? ((String) item.unwrapped()).trim() : null;
            if (text == null || !isAddressOrRange(text)) {
                problem(ConfigException.badValue(indexed(path, i), item,
                        "an IP address or CIDR range such as \"10.0.0.1\" or \"192.168.0.0/16\""), item);
            } else {
                result.add(text);
            }
        }
        return result;
    }

    /** The releases in the order they are declared (by line; those set by overrides only come last, by name). */
    private Map<String, ReleaseConfig> releases(ConfigObject root) {
        List<String> path = List.of(RELEASES);
        ConfigValue value = root.get(RELEASES);
        Map<String, ReleaseConfig> releases = new LinkedHashMap<>();
        if (!(value instanceof ConfigObject object)) {
            bad(path, value, "an object holding releases such as blue { endpoints = [\"127.0.0.1:8001\"] }");
            return releases;
        }
        if (object.isEmpty()) {
            bad(path, value, "at least one release such as blue { endpoints = [\"127.0.0.1:8001\"] }, "
                    + "and proxy.routing.stable naming one");
            return releases;
        }
        List<String> names = new ArrayList<>(object.keySet());
        names.sort(Comparator.<String>comparingInt(name -> declaredLine(object.get(name)))
                .thenComparing(Comparator.naturalOrder()));
        for (String name : names) {
            releases.put(name, release(name, object.get(name)));
        }
        return releases;
    }

    /** The release, or {@code null} when it has a problem. */
    private ReleaseConfig release(String name, ConfigValue value) {
        List<String> path = List.of(RELEASES, name);
        boolean ok = true;
        if (!RELEASE_NAME.matcher(name).matches()) {
            problems.add(key(path) + ": \"" + name + "\" is not a valid release name: expected letters, digits, "
                    + "'_', '.' and '-', starting with a letter or digit" + where(value));
            ok = false;
        }
        if (!(value instanceof ConfigObject object)) {
            bad(path, value, "an object such as { endpoints = [\"127.0.0.1:8001\"] }");
            return null;
        }
        ok &= checkAllowedKeys(object, RELEASE_KEYS, path);

        List<String> endpointsPath = append(path, "endpoints");
        List<EndpointAddress> endpoints = null;
        if (object.get("endpoints") == null) {
            problems.add(key(path) + " has no endpoints: expected endpoints = [\"127.0.0.1:8001\"] or "
                    + "[\"unix:/run/app/" + name + ".sock\"]" + where(value));
        } else {
            endpoints = endpoints(endpointsPath);
        }
        StaticFilesConfig staticFiles = null;
        if (object.get("static") != null) {
            staticFiles = staticFiles(append(path, "static"));
            ok &= staticFiles != null;
        }
        return ok && endpoints != null ? new ReleaseConfig(name, endpoints, staticFiles) : null;
    }

    private List<EndpointAddress> endpoints(List<String> path) {
        List<ConfigValue> items = list(path, "a list of endpoints such as [\"127.0.0.1:8001\", \"unix:/run/app/blue.sock\"]");
        if (items == null) {
            return null;
        }
        if (items.isEmpty()) {
            bad(path, "at least one endpoint such as " + ENDPOINT_EXAMPLE);
            return null;
        }
        List<EndpointAddress> endpoints = new ArrayList<>();
        boolean ok = true;
        for (int i = 0; i < items.size(); i++) {
            ConfigValue item = items.get(i);
            String key = indexed(path, i);
            if (item.valueType() != ConfigValueType.STRING) {
                problem(ConfigException.badValue(key, item, "an endpoint such as " + ENDPOINT_EXAMPLE), item);
                ok = false;
                continue;
            }
            EndpointAddress endpoint;
            try {
                endpoint = EndpointAddress.parse((String) item.unwrapped());
            } catch (IllegalArgumentException e) {
                problem(ConfigException.invalid(key, item, e.getMessage()), item);
                ok = false;
                continue;
            }
            if (!endpoint.isUnix() && endpoint.tcp().port() == 0) {
                problem(ConfigException.badValue(key, item, "a port between 1 and 65535"), item);
                ok = false;
            } else if (endpoints.contains(endpoint)) {
                problem(ConfigException.badValue(key, item, "each endpoint listed once"), item);
                ok = false;
            }
            endpoints.add(endpoint);
        }
        return ok ? endpoints : null;
    }

    private StaticFilesConfig staticFiles(List<String> path) {
        ConfigValue value = lookup(path);
        if (!(value instanceof ConfigObject object)) {
            bad(path, "an object such as { prefix = \"/static/\", root = \"/srv/app/blue/static\" }");
            return null;
        }
        boolean ok = checkAllowedKeys(object, STATIC_KEYS, path);
        List<String> prefixPath = append(path, "prefix");
        List<String> rootPath = append(path, "root");
        String prefix = requiredString(prefixPath, value, "a URL path prefix such as \"/static/\"");
        if (prefix != null && (!prefix.startsWith("/") || !prefix.endsWith("/"))) {
            bad(prefixPath, "a URL path that starts and ends with /, such as \"/static/\"");
            prefix = null;
        }
        String rootText = requiredString(rootPath, value, "a directory such as \"/srv/app/blue/static\"");
        Path root = null;
        if (rootText != null) {
            try {
                if (rootText.isBlank()) {
                    throw new InvalidPathException(rootText, "empty");
                }
                root = Path.of(rootText);
            } catch (InvalidPathException e) {
                bad(rootPath, "a directory such as \"/srv/app/blue/static\"");
            }
        }
        return ok && prefix != null && root != null ? new StaticFilesConfig(prefix, root) : null;
    }

    private RoutingConfig routing(Map<String, ReleaseConfig> releases) {
        List<String> stablePath = path("routing.stable");
        List<String> canaryPath = path("routing.canary");
        List<String> weightPath = path("routing.weight");
        String stable = string(stablePath);
        String canaryText = string(canaryPath);
        String canary = canaryText == null || canaryText.isEmpty() ? null : canaryText;
        Double weight = number(weightPath, 0, 100, "a percentage from 0 to 100, such as 12.5");
        if (weight != null && !RoutingConfig.inBasisPoints(weight)) {
            bad(weightPath, "a percentage with at most 2 decimals, such as 12.5 (the resolution is 0.01 %)");
            weight = null;
        }

        String known = "one of the releases " + String.join(", ", releases.keySet());
        boolean haveReleases = !releases.isEmpty(); // else proxy.releases is already reported
        if (stable != null && haveReleases) {
            if (stable.isEmpty()) {
                bad(stablePath, "the name of the release that gets all traffic, " + known);
                stable = null;
            } else if (!releases.containsKey(stable)) {
                bad(stablePath, known);
                stable = null;
            }
        }
        if (canary != null && haveReleases) {
            if (!releases.containsKey(canary)) {
                bad(canaryPath, known + ", or \"\" for none");
                canary = null;
            } else if (canary.equals(stable)) {
                bad(canaryPath, "a release other than the stable one (proxy.routing.stable), or \"\" for none");
                canary = null;
            }
        }
        if (weight != null && weight > 0 && canaryText != null && canaryText.isEmpty()) {
            bad(weightPath, "0 while proxy.routing.canary is empty");
            weight = null;
        }

        String cookie = string(path("routing.sticky-cookie.name"));
        if (cookie != null && !TOKEN.matcher(cookie).matches()) {
            bad(path("routing.sticky-cookie.name"), "a cookie name of letters, digits and !#$%&'*+-.^_`|~ such as \"cp_bucket\"");
            cookie = null;
        } else if ("cp_release".equals(cookie)) {
            // The name of the cookie that pins a tester to a release (Router.RELEASE_COOKIE): each would overwrite
            // the other.
            bad(path("routing.sticky-cookie.name"), "a name other than cp_release, the cookie that pins a release");
            cookie = null;
        }
        // Max-Age is whole seconds, and browsers cap it at 400 days (RFC 6265bis 5.5): a longer one would only
        // look longer.
        String maxAgeExpected = "whole seconds from 1s to 400d, such as 30d";
        Duration maxAge = duration(path("routing.sticky-cookie.max-age"), false, "; here " + maxAgeExpected);
        if (maxAge != null && (maxAge.compareTo(Duration.ofSeconds(1)) < 0 || maxAge.toNanos() % 1_000_000_000L != 0
                || maxAge.compareTo(Duration.ofDays(400)) > 0)) {
            bad(path("routing.sticky-cookie.max-age"), maxAgeExpected);
            maxAge = null;
        }
        Boolean overrides = bool(path("routing.overrides"));
        Boolean servedBy = bool(path("routing.served-by-header"));
        if (stable == null || weight == null || cookie == null || maxAge == null || overrides == null
                || servedBy == null || (canaryText != null && !canaryText.isEmpty() && canary == null)) {
            return null;
        }
        return new RoutingConfig(stable, canary, (int) Math.round(weight * 100), cookie, maxAge, overrides, servedBy);
    }

    private HealthCheckConfig healthCheck() {
        List<String> pathKey = path("health-check.path");
        String checkPath = string(pathKey);
        if (checkPath != null && (!checkPath.startsWith("/") || checkPath.chars().anyMatch(c -> c <= ' ' || c >= 0x7f))) {
            bad(pathKey, "a URL path starting with /, in printable ASCII without spaces (percent-encode the rest),"
                    + " such as \"/healthz\"");
            checkPath = null;
        }
        Duration interval = duration(path("health-check.interval"), true, ", or 0 to turn active checks off");
        Duration timeout = duration(path("health-check.timeout"), false, POSITIVE);
        if (interval != null && timeout != null && !interval.isZero() && timeout.compareTo(interval) > 0) {
            bad(path("health-check.timeout"), DURATION + ", at most proxy.health-check.interval = "
                    + lookup(path("health-check.interval")).render());
            timeout = null;
        }
        Long rise = wholeNumber(path("health-check.rise"), 1, Integer.MAX_VALUE, "");
        Long fall = wholeNumber(path("health-check.fall"), 1, Integer.MAX_VALUE, "");
        if (checkPath == null || interval == null || timeout == null || rise == null || fall == null) {
            return null;
        }
        return new HealthCheckConfig(checkPath, interval, timeout, rise.intValue(), fall.intValue());
    }

    private UpstreamConfig upstream() {
        Duration connect = duration(path("upstream.connect-timeout"), false, POSITIVE);
        Duration response = duration(path("upstream.response-timeout"), false, POSITIVE);
        Duration poolIdle = duration(path("upstream.pool-idle-timeout"), false, POSITIVE);
        Long maxConnections = wholeNumber(path("upstream.max-connections"), 1, Integer.MAX_VALUE, "");
        Long maxIdle = wholeNumber(path("upstream.max-idle-connections"), 1, Integer.MAX_VALUE, "");
        Long maxRetries = wholeNumber(path("upstream.max-retries"), 0, Integer.MAX_VALUE, "");
        Long ejectAfter = wholeNumber(path("upstream.eject-after"), 1, Integer.MAX_VALUE, "");
        Duration ejectDuration = duration(path("upstream.eject-duration"), false, POSITIVE);
        Long maxResponseBuffer = size(path("upstream.max-response-buffer"), 0, Long.MAX_VALUE, ", or 0 for none");
        if (connect == null || response == null || poolIdle == null || maxConnections == null || maxIdle == null
                || maxRetries == null || ejectAfter == null || ejectDuration == null || maxResponseBuffer == null) {
            return null;
        }
        return new UpstreamConfig(connect, response, poolIdle, maxConnections.intValue(), maxIdle.intValue(),
                maxRetries.intValue(), ejectAfter.intValue(), ejectDuration, maxResponseBuffer);
    }

    private LimitsConfig limits() {
        // A browser's request line and head are longer than these floors: below them every request would be
        // refused, most likely a unit left out (8 meant as 8k).
        Long header = size(path("limits.max-header-size"), 1024, Integer.MAX_VALUE, ", at least 1k");
        Long initialLine = size(path("limits.max-initial-line"), 256, Integer.MAX_VALUE, ", at least 256");
        Long body = size(path("limits.max-body-size"), Long.MAX_VALUE);
        Duration headerRead = duration(path("limits.header-read-timeout"), false, POSITIVE);
        Duration clientIdle = duration(path("limits.client-idle-timeout"), false, POSITIVE);
        Path bodyTempDir = bodyTempDir(path("limits.body-temp-dir"));
        if (header == null || initialLine == null || body == null || headerRead == null || clientIdle == null
                || bodyTempDir == null) {
            return null;
        }
        return new LimitsConfig(header.intValue(), initialLine.intValue(), body, headerRead, clientIdle,
                bodyTempDir);
    }

    /**
     * A directory that exists and the proxy may write. {@code ""} is {@code /var/tmp} (on disk where {@code /tmp}
     * is often a tmpfs, which would hold the bodies in memory), or {@code java.io.tmpdir} where that is missing;
     * it is not checked here, since a proxy that never gets a large chunked upload needs no such directory.
     */
    private Path bodyTempDir(List<String> path) {
        String text = string(path);
        if (text == null) {
            return null;
        }
        if (text.isEmpty()) {
            Path varTmp = Path.of("/var/tmp");
            return isWritableDirectory(varTmp) ? varTmp : Path.of(System.getProperty("java.io.tmpdir"));
        }
        Path dir;
        try {
            dir = Path.of(text);
        } catch (InvalidPathException e) {
            bad(path, "a directory, or \"\" for /var/tmp: " + e.getReason());
            return null;
        }
        if (!isWritableDirectory(dir)) {
            bad(path, "a directory that exists and the proxy may write to");
            return null;
        }
        return dir;
    }

    private static boolean isWritableDirectory(Path dir) {
        return Files.isDirectory(dir) && Files.isWritable(dir) && Files.isExecutable(dir);
    }

    private StaticFilesSettings staticFilesSettings() {
        List<String> smallPath = path("static-files.small-file-max");
        List<String> controlPath = path("static-files.cache-control");
        Long cacheMax = size(path("static-files.cache-max-bytes"), Long.MAX_VALUE);
        Long smallMax = size(smallPath, Integer.MAX_VALUE);
        if (cacheMax != null && smallMax != null && smallMax > cacheMax) {
            // Such a file would be evicted as soon as it is cached: read from disk on every request for nothing.
            bad(smallPath, SIZE + ", at most proxy.static-files.cache-max-bytes = "
                    + lookup(path("static-files.cache-max-bytes")).render());
            smallMax = null;
        }
        String cacheControl = string(controlPath);
        if (cacheControl != null && !cacheControl.chars().allMatch(c -> c == '\t' || (c >= ' ' && c <= '~'))) {
            // It goes into every response head as is: a line break would let the value inject headers.
            bad(controlPath, "a header value of printable ASCII such as \"public, max-age=3600\", or \"\" for none");
            cacheControl = null;
        }
        Boolean fromOthers = bool(path("static-files.from-other-releases"));
        if (cacheMax == null || smallMax == null || cacheControl == null || fromOthers == null) {
            return null;
        }
        return new StaticFilesSettings(cacheMax, smallMax.intValue(), cacheControl.strip(), fromOthers);
    }

    // ---------------------------------------------------------------------------------------------- unknown keys

    /** Reports every key of {@code actual} that {@code ref} does not have, recursing into objects. */
    private void checkKeys(ConfigObject actual, ConfigObject ref, List<String> path) {
        for (String name : new TreeSet<>(actual.keySet())) {
            if (path.isEmpty() && name.equals(RELEASES)) {
                continue;
            }
            if (path.isEmpty() && name.equals(ANALYSIS) && actual.get(name) instanceof ConfigObject analysis
                    && analysis.get(WEBHOOKS) instanceof ConfigList hooks) {
                checkWebhookKeys(hooks, append(List.of(ANALYSIS), WEBHOOKS));
            }
            List<String> childPath = append(path, name);
            ConfigValue value = actual.get(name);
            ConfigValue refValue = ref.get(name);
            if (refValue == null) {
                unknownKey(childPath, value, ref.keySet());
            } else if (refValue instanceof ConfigObject refObject) {
                if (value instanceof ConfigObject object) {
                    checkKeys(object, refObject, childPath);
                } else {
                    bad(childPath, value, "an object with the keys " + String.join(", ", new TreeSet<>(refObject.keySet())));
                }
            }
        }
    }

    /**
     * Reports keys of the webhooks' objects that a webhook does not have ({@link AnalysisConfig} checks their
     * values). A misspelt {@code events} would otherwise send every event to the hook.
     */
    private void checkWebhookKeys(ConfigList hooks, List<String> path) {
        for (int i = 0; i < hooks.size(); i++) {
            if (hooks.get(i) instanceof ConfigObject hook) {
                for (String name : new TreeSet<>(hook.keySet())) {
                    if (!WEBHOOK_KEYS.contains(name)) {
                        unknownKey(indexed(path, i), name, hook.get(name), WEBHOOK_KEYS);
                    }
                }
            }
        }
    }

    /** Reports keys of {@code object} outside {@code allowed}; true when there is none. */
    private boolean checkAllowedKeys(ConfigObject object, Set<String> allowed, List<String> path) {
        boolean ok = true;
        for (String name : new TreeSet<>(object.keySet())) {
            if (!allowed.contains(name)) {
                unknownKey(append(path, name), object.get(name), allowed);
                ok = false;
            }
        }
        return ok;
    }

    /** {@code unknown key proxy.upstream.pool-idle-timout (in /etc/proxy.conf:12); did you mean ...?}. */
    private void unknownKey(List<String> path, ConfigValue value, Set<String> siblings) {
        unknownKey(key(path.subList(0, path.size() - 1)), path.get(path.size() - 1), value, siblings);
    }

    /** The same for key {@code name} of the object shown as {@code parent}, e.g. {@code proxy.analysis.webhooks[0]}. */
    private void unknownKey(String parent, String name, ConfigValue value, Set<String> siblings) {
        String suggestion = null;
        int best = Math.min(2, Math.max(1, name.length() / 3)) + 1;
        for (String sibling : new TreeSet<>(siblings)) {
            int distance = editDistance(name.toLowerCase(Locale.ROOT).replace('_', '-'), sibling);
            if (distance < best) {
                best = distance;
                suggestion = sibling;
            }
        }
        String hint = suggestion == null ? ""
                : "; did you mean " + parent + "." + ConfigUtil.joinPath(suggestion) + "?";
        problems.add("unknown key " + parent + "." + ConfigUtil.joinPath(name) + where(value) + hint);
    }

    static int editDistance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitute = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitute, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }

    // ---------------------------------------------------------------------------------------------- typed values

    private String string(List<String> path) {
        ConfigValue value = lookup(path);
        if (value == null) {
            return null;
        }
        return switch (value.valueType()) {
            case STRING -> (String) value.unwrapped();
            case NUMBER, BOOLEAN -> single(value).getString("v");
            default -> {
                bad(path, value, "a string");
                yield null;
            }
        };
    }

    /** A string that must be present in {@code parent}; reports it as missing otherwise. */
    private String requiredString(List<String> path, ConfigValue parent, String expected) {
        ConfigValue value = lookup(path);
        if (value == null) {
            problems.add(key(path) + " is missing: expected " + expected + where(parent));
            return null;
        }
        if (value.valueType() != ConfigValueType.STRING) {
            bad(path, value, expected);
            return null;
        }
        return (String) value.unwrapped();
    }

    private HostPort hostPort(List<String> path) {
        String text = string(path);
        if (text == null) {
            return null;
        }
        try {
            return HostPort.parse(text);
        } catch (IllegalArgumentException e) {
            ConfigValue value = lookup(path);
            problem(ConfigException.invalid(key(path), value, e.getMessage()), value);
            return null;
        }
    }

    /**
     * A whole number within {@code min..max}; a string of digits counts (environment variables are strings), a
     * fraction does not.
     */
    private Long wholeNumber(List<String> path, long min, long max, String note) {
        ConfigValue value = lookup(path);
        if (value == null) {
            return null;
        }
        Long number = null;
        if (value.valueType() == ConfigValueType.NUMBER) {
            Number n = (Number) value.unwrapped();
            if (n instanceof Integer || n instanceof Long) {
                number = n.longValue();
            } else if (n.doubleValue() == Math.rint(n.doubleValue()) && Math.abs(n.doubleValue()) < 0x1p62) {
                number = (long) n.doubleValue();
            }
        } else if (value.valueType() == ConfigValueType.STRING) {
            try {
                number = Long.parseLong(((String) value.unwrapped()).trim());
            } catch (NumberFormatException e) {
                number = null;
            }
        }
        if (number == null || number < min || number > max) {
            // "at least 1" alone would puzzle whoever wrote a number above the largest int, which is at least 1.
            boolean tooBig = number != null && number > max;
            String range = max >= Integer.MAX_VALUE && !tooBig ? ", at least " + min : " from " + min + " to " + max;
            bad(path, value, WHOLE_NUMBER + range + note);
            return null;
        }
        return number;
    }

    /** A decimal number within {@code min..max}. */
    private Double number(List<String> path, double min, double max, String expected) {
        ConfigValue value = lookup(path);
        if (value == null) {
            return null;
        }
        Double number = null;
        if (value.valueType() == ConfigValueType.NUMBER) {
            number = ((Number) value.unwrapped()).doubleValue();
        } else if (value.valueType() == ConfigValueType.STRING
                && BareNumbers.isBareNumber((String) value.unwrapped())) {
            number = Double.parseDouble(((String) value.unwrapped()).trim());
        }
        if (number == null || number.isNaN() || number < min || number > max) {
            bad(path, value, expected);
            return null;
        }
        return number;
    }

    /**
     * A duration with a unit; a bare number other than 0 is refused, as "timeout = 5" reads as seconds to a person
     * and as milliseconds to Typesafe Config.
     */
    private Duration duration(List<String> path, boolean zeroAllowed, String note) {
        ConfigValue value = lookup(path);
        if (value == null) {
            return null;
        }
        Duration duration = Durations.of(value);
        if (duration == null || duration.isNegative() || (duration.isZero() && !zeroAllowed)) {
            bad(path, value, DURATION + note);
            return null;
        }
        if (duration.compareTo(SATURATED) >= 0) {
            bad(path, value, DURATION + ", " + AT_MOST);
            return null;
        }
        return duration;
    }

    /** A size in bytes from 1 to {@code max}: {@code 16k} is 16384 bytes, a bare number counts bytes. */
    private Long size(List<String> path, long max) {
        return size(path, 1, max, POSITIVE);
    }

    /** A size from {@code min} to {@code max} bytes; {@code hint} says what else the value may be. */
    private Long size(List<String> path, long min, long max, String hint) {
        ConfigValue value = lookup(path);
        if (value == null) {
            return null;
        }
        Long bytes = null;
        if (value.valueType() == ConfigValueType.NUMBER || value.valueType() == ConfigValueType.STRING) {
            try {
                bytes = single(value).getBytes("v");
            } catch (com.typesafe.config.ConfigException e) {
                bytes = null;
            }
        }
        if (bytes == null || bytes < min || bytes > max) {
            bad(path, value, SIZE + hint + (max == Integer.MAX_VALUE ? " and at most 2147483647 bytes" : ""));
            return null;
        }
        return bytes;
    }

    private Boolean bool(List<String> path) {
        ConfigValue value = lookup(path);
        if (value == null) {
            return null;
        }
        if (value.valueType() == ConfigValueType.BOOLEAN || value.valueType() == ConfigValueType.STRING) {
            try {
                return single(value).getBoolean("v");
            } catch (com.typesafe.config.ConfigException e) {
                // reported below
            }
        }
        bad(path, value, "on or off");
        return null;
    }

    /** A list; a single string counts as a list of one (handy for environment variables). */
    private List<ConfigValue> list(List<String> path, String expected) {
        ConfigValue value = lookup(path);
        if (value == null) {
            return null;
        }
        if (value instanceof ConfigList list) {
            return list;
        }
        if (value.valueType() == ConfigValueType.STRING) {
            return List.of(value);
        }
        bad(path, value, expected);
        return null;
    }

    /** {@code value} alone, under the key {@code v}: Typesafe Config's typed getters work on a Config, not a value. */
    static Config single(ConfigValue value) {
        return ConfigFactory.empty().withValue("v", value);
    }

    // ---------------------------------------------------------------------------------------------- paths, problems

    /** Path elements below the root, from a dotted key without quoting. */
    private static List<String> path(String dotted) {
        return List.of(dotted.split("\\."));
    }

    private static List<String> append(List<String> path, String name) {
        List<String> result = new ArrayList<>(path);
        result.add(name);
        return List.copyOf(result);
    }

    /** The full key as HOCON writes it: {@code proxy.releases."v1.2".endpoints}. */
    private static String key(List<String> path) {
        List<String> full = new ArrayList<>(path.size() + 1);
        full.add(ROOT);
        full.addAll(path);
        return ConfigUtil.joinPath(full);
    }

    private static String indexed(List<String> path, int index) {
        return key(path) + "[" + index + "]";
    }

    /**
     * The value at {@code path} below the root, or {@code null} when it or a parent object is missing. A key with a
     * default is only missing when a parent is not an object, which {@link #checkKeys} reports; the typed readers
     * then return {@code null} without a second report.
     */
    private ConfigValue lookup(List<String> path) {
        ConfigValue current = merged.root().get(ROOT);
        for (String name : path) {
            if (!(current instanceof ConfigObject object)) {
                return null;
            }
            current = object.get(name);
        }
        return current;
    }

    private void bad(List<String> path, String expected) {
        bad(path, lookup(path), expected);
    }

    private void bad(List<String> path, ConfigValue value, String expected) {
        problem(ConfigException.badValue(key(path), value, expected), value);
    }

    private void problem(ConfigException e, ConfigValue value) {
        problems.add(e.getMessage() + where(value));
    }

    /** {@code " (in /etc/proxy.conf:12)"}, {@code " (from environment variable X)"}, or "" for a default. */
    static String where(ConfigValue value) {
        ConfigOrigin origin = value == null ? null : value.origin();
        if (origin == null || "reference.conf".equals(origin.resource())) {
            return "";
        }
        String line = origin.lineNumber() >= 0 ? ":" + origin.lineNumber() : "";
        if (origin.filename() != null) {
            return " (in " + origin.filename() + line + ")";
        }
        if (origin.resource() != null) {
            return " (in " + origin.resource() + line + ")";
        }
        String description = origin.description();
        if (description.startsWith("environment variable ") || description.startsWith("system property ")) {
            return " (from " + description + ")";
        }
        if (value instanceof ConfigObject object) { // made by an override: say where its first part came from
            for (String name : new TreeSet<>(object.keySet())) {
                String childWhere = where(object.get(name));
                if (!childWhere.isEmpty()) {
                    return childWhere;
                }
            }
        }
        return "";
    }

    /** The first line a value (or, for a merged object, any of its parts) was declared on. */
    private static int declaredLine(ConfigValue value) {
        int line = value.origin().lineNumber();
        if (line >= 0) {
            return line;
        }
        int min = Integer.MAX_VALUE;
        if (value instanceof ConfigObject object) {
            for (ConfigValue child : object.values()) {
                min = Math.min(min, declaredLine(child));
            }
        } else if (value instanceof ConfigList list) {
            for (ConfigValue child : list) {
                min = Math.min(min, declaredLine(child));
            }
        }
        return min;
    }

    // ---------------------------------------------------------------------------------------------- addresses

    private static boolean isLoopback(String host) {
        if (host.equalsIgnoreCase("localhost")) {
            return true;
        }
        InetAddress address = literal(host);
        return address != null && address.isLoopbackAddress();
    }

    private static boolean hostsOverlap(String a, String b) {
        if (a.equalsIgnoreCase(b)) {
            return true;
        }
        InetAddress x = literal(a);
        InetAddress y = literal(b);
        if (x != null && y != null && (x.isAnyLocalAddress() || y.isAnyLocalAddress() || x.equals(y))) {
            return true;
        }
        return isLoopback(a) && isLoopback(b);
    }

    private static boolean isAddressOrRange(String text) {
        int slash = text.indexOf('/');
        String address = slash < 0 ? text : text.substring(0, slash);
        InetAddress parsed = literal(address);
        if (parsed == null) {
            return false;
        }
        if (slash < 0) {
            return true;
        }
        String bits = text.substring(slash + 1);
        if (bits.isEmpty() || bits.length() > 3 || !bits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return false;
        }
        return Integer.parseInt(bits) <= parsed.getAddress().length * 8;
    }

    /** An IP address literal, never a name lookup; {@code null} for anything else. */
    private static InetAddress literal(String text) {
        boolean v4 = IPV4.matcher(text).matches();
        boolean v6 = text.indexOf(':') >= 0 && IPV6_CHARS.matcher(text).matches();
        if (!v4 && !v6) {
            return null;
        }
        try {
            return InetAddress.getByName(text);
        } catch (UnknownHostException e) {
            return null;
        }
    }
}
