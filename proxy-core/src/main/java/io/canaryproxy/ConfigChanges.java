package io.canaryproxy;

import io.canaryproxy.config.AnalysisConfig;
import io.canaryproxy.config.LimitsConfig;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.config.ReleaseConfig;
import io.canaryproxy.config.StaticFilesConfig;
import io.canaryproxy.config.StaticFilesSettings;
import io.canaryproxy.internal.DurationText;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * What differs between two configurations, as a reload reports it to the operator (its answer and log): only the
 * settings that changed, each with its old and new value, never a whole settings object and never a token.
 */
final class ConfigChanges {

    private ConfigChanges() {
    }

    /**
     * The settings a reload cannot apply: {@code "proxy.listen changed from 127.0.0.1:8080 to 0.0.0.0:8080, which
     * needs a restart"}, {@code "proxy.admin.token changed, which needs a restart"}.
     */
    static List<String> needingRestart(ProxyConfig now, ProxyConfig next) {
        List<String> refused = new ArrayList<>();
        refuse(refused, "proxy.listen", now.listen(), next.listen());
        refuse(refused, "proxy.threads", now.threads(), next.threads());
        refuse(refused, "proxy.transport", now.transport(), next.transport());
        refuse(refused, "proxy.state-file", now.stateFile(), next.stateFile());
        refuse(refused, "proxy.admin", now.admin(), next.admin());
        return refused;
    }

    private static void refuse(List<String> refused, String key, Object before, Object after) {
        if (Objects.equals(before, after)) {
            return;
        }
        if (before == null || after == null || !isSettings(before) || before.getClass() != after.getClass()) {
            refused.add(key + " changed from " + show(before) + " to " + show(after) + ", which needs a restart");
            return;
        }
        for (RecordComponent c : differing(before, after)) {
            String setting = key + "." + key(c);
            refused.add(setting + (isSecret(c) ? " changed"
                    : " changed from " + show(c, read(c, before)) + " to " + show(c, read(c, after)))
                    + ", which needs a restart");
        }
    }

    /** One line per change a reload applies, e.g. {@code "release green: endpoints [127.0.0.1:8001] -> [...]"}. */
    static List<String> applied(ProxyConfig a, ProxyConfig b) {
        List<String> changes = new ArrayList<>();
        for (ReleaseConfig rc : b.releases().values()) {
            ReleaseConfig old = a.release(rc.name());
            if (old == null) {
                changes.add("release " + rc.name() + " added: " + rc.endpoints());
                continue;
            }
            List<String> what = new ArrayList<>();
            if (!old.endpoints().equals(rc.endpoints())) {
                what.add("endpoints " + old.endpoints() + " -> " + rc.endpoints());
            }
            StaticFilesConfig was = old.staticFiles();
            StaticFilesConfig is = rc.staticFiles();
            if (was == null && is != null) {
                what.add("static files added: " + is.prefix() + " from " + is.root());
            } else if (was != null && is == null) {
                what.add("static files removed: " + was.prefix() + " from " + was.root());
            } else if (was != null) {
                if (!was.prefix().equals(is.prefix())) {
                    what.add("static prefix " + was.prefix() + " -> " + is.prefix());
                }
                if (!was.root().equals(is.root())) {
                    what.add("static root " + was.root() + " -> " + is.root());
                }
            }
            if (what.isEmpty() && !old.equals(rc)) {
                what.add("changed");
            }
            if (!what.isEmpty()) {
                changes.add("release " + rc.name() + ": " + String.join(", ", what));
            }
        }
        for (String name : a.releases().keySet()) {
            if (b.release(name) == null) {
                changes.add("release " + name + " removed");
            }
        }
        for (String line : between("proxy.routing", a.routing(), b.routing())) {
            // The route table is runtime state: a reloaded file that names another stable release moves nobody,
            // and an operator reading "stable: green -> blue" would think it did.
            boolean table = line.startsWith("proxy.routing.stable:") || line.startsWith("proxy.routing.canary:")
                    || line.startsWith("proxy.routing.weight:");
            changes.add(table ? line + " (not applied to traffic: the route table moves by /switch and /canary only)"
                    : line);
        }
        changes.addAll(between("proxy.health-check", a.healthCheck(), b.healthCheck()));
        changes.addAll(between("proxy.upstream", a.upstream(), b.upstream()));
        changes.addAll(between("proxy.limits", a.limits(), b.limits()));
        changes.addAll(between("proxy.drain", a.drain(), b.drain()));
        changes.addAll(between("proxy.trusted-proxies", a.trustedProxies(), b.trustedProxies()));
        changes.addAll(between("proxy.static-files", a.staticFiles(), b.staticFiles()));
        return changes;
    }

    /**
     * {@code "proxy.listen: 127.0.0.1:8080 -> 0.0.0.0:8080"}; for a settings record, a line per setting that differs,
     * named by its config key: {@code "proxy.routing.served-by-header: false -> true"}. Empty when equal.
     */
    static List<String> between(String key, Object before, Object after) {
        if (Objects.equals(before, after)) {
            return List.of();
        }
        if (before == null || after == null || !isSettings(before) || before.getClass() != after.getClass()) {
            return List.of(key + ": " + show(before) + " -> " + show(after));
        }
        List<String> lines = new ArrayList<>();
        for (RecordComponent c : differing(before, after)) {
            String setting = key + "." + key(c);
            String was = show(c, read(c, before));
            String is = show(c, read(c, after));
            lines.add(isSecret(c) ? setting + " changed"
                    // A webhook URL's path is not shown (see Webhook.toString): a change there alone looks like none.
                    : was.equals(is) ? setting + " changed (in what is not shown)"
                    : setting + ": " + was + " -> " + is);
        }
        return lines;
    }

    /** The components of two records of one type whose values differ, in their declared order. */
    private static List<RecordComponent> differing(Object before, Object after) {
        List<RecordComponent> differing = new ArrayList<>();
        for (RecordComponent c : before.getClass().getRecordComponents()) {
            if (!Objects.equals(read(c, before), read(c, after))) {
                differing.add(c);
            }
        }
        return differing;
    }

    /**
     * A group of settings ({@code RoutingConfig}, {@code AdminConfig}, {@code StaticFilesSettings}...), told part by
     * part; a value is told whole.
     */
    private static boolean isSettings(Object value) {
        String type = value.getClass().getSimpleName();
        return value instanceof Record && (type.endsWith("Config") || type.endsWith("Settings"));
    }

    private static boolean isSecret(RecordComponent c) {
        return c.getName().equals("token");
    }

    /**
     * The config key of a settings record's component, below its group: the component's name in kebab case
     * ({@code maxIdleConnections} is {@code max-idle-connections}), except where the file nests it or says it
     * in other units.
     */
    private static String key(RecordComponent c) {
        return switch (c.getName()) {
            case "stickyCookieName" -> "sticky-cookie.name";
            case "stickyCookieMaxAge" -> "sticky-cookie.max-age";
            case "weightBasisPoints" -> "weight";
            case "minEffect" -> "min-effect-size";
            case "pauseOnFailure" -> "on-failure";
            default -> c.getName().replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
        };
    }

    /** A setting's value as the config file would say it. */
    @SuppressWarnings("unchecked") // the analysis's lists, by the component's declared type
    private static String show(RecordComponent c, Object value) {
        if (c.getName().equals("weightBasisPoints") && value instanceof Integer basisPoints) {
            return plain(BigDecimal.valueOf(basisPoints, 2));
        }
        if ((c.getDeclaringRecord() == LimitsConfig.class || c.getDeclaringRecord() == StaticFilesSettings.class
                || c.getName().equals("maxResponseBuffer")) && value instanceof Number bytes) {
            return size(bytes.longValue());
        }
        if (c.getDeclaringRecord() == AnalysisConfig.class) {
            switch (c.getName()) {
                case "confidence", "maxErrorRate" -> {
                    // Read in percent; held as a fraction.
                    return plain(BigDecimal.valueOf((Double) value).movePointRight(2));
                }
                case "steps" -> {
                    List<String> steps = new ArrayList<>();
                    for (Double step : (List<Double>) value) {
                        steps.add(plain(BigDecimal.valueOf(step)));
                    }
                    return steps.toString();
                }
                case "pauseOnFailure" -> {
                    return Boolean.TRUE.equals(value) ? "pause" : "rollback";
                }
                case "webhooks" -> {
                    List<String> hooks = new ArrayList<>();
                    for (AnalysisConfig.Webhook hook : (List<AnalysisConfig.Webhook>) value) {
                        hooks.add("{ name = " + hook.name() + ", url = " + hook.shownUrl() + ", events = "
                                + hook.events() + ", timeout = " + DurationText.of(hook.timeout()) + " }");
                    }
                    return hooks.toString();
                }
                default -> {
                    return show(value);
                }
            }
        }
        return show(value);
    }

    private static String plain(BigDecimal number) {
        return number.stripTrailingZeros().toPlainString();
    }

    private static Object read(RecordComponent c, Object record) {
        try {
            return c.getAccessor().invoke(record);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException("cannot read " + c.getName() + " of " + record.getClass(), e);
        }
    }

    /** A size as the file says it ({@code 16k} is 16384 bytes): the largest unit that says it exactly. */
    private static String size(long bytes) {
        if (bytes != 0 && bytes % (1L << 30) == 0) {
            return (bytes >> 30) + "g";
        }
        if (bytes != 0 && bytes % (1L << 20) == 0) {
            return (bytes >> 20) + "m";
        }
        return bytes != 0 && bytes % 1024 == 0 ? (bytes >> 10) + "k" : Long.toString(bytes);
    }

    private static String show(Object value) {
        if (value == null) {
            return "none";
        }
        if (value instanceof Duration d) {
            return DurationText.of(d);
        }
        return String.valueOf(value);
    }
}
