package io.canaryproxy;

import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.config.ReleaseConfig;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
     * needs a restart"}, {@code "proxy.admin changed (token changed), which needs a restart"}.
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
        refused.add(key + (isSettings(before) ? " changed (" + parts(before, after) + ")"
                : " changed from " + show(before) + " to " + show(after)) + ", which needs a restart");
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
            if (!Objects.equals(old.staticFiles(), rc.staticFiles())) {
                what.add("static files " + (old.staticFiles() == null ? "added"
                        : rc.staticFiles() == null ? "removed" : "changed"));
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
        changes.addAll(between("proxy.routing", a.routing(), b.routing()));
        changes.addAll(between("proxy.health-check", a.healthCheck(), b.healthCheck()));
        changes.addAll(between("proxy.upstream", a.upstream(), b.upstream()));
        changes.addAll(between("proxy.limits", a.limits(), b.limits()));
        changes.addAll(between("proxy.drain", a.drain(), b.drain()));
        changes.addAll(between("proxy.trusted-proxies", a.trustedProxies(), b.trustedProxies()));
        return changes;
    }

    /**
     * {@code "proxy.listen: 127.0.0.1:8080 -> 0.0.0.0:8080"}; for a settings record, the parts that differ:
     * {@code "proxy.routing: servedByHeader false -> true, stickyCookieMaxAge 30d -> 1d"}. Empty when equal.
     */
    static List<String> between(String key, Object before, Object after) {
        if (Objects.equals(before, after)) {
            return List.of();
        }
        if (isSettings(before)) {
            return List.of(key + ": " + parts(before, after));
        }
        return List.of(key + ": " + show(before) + " -> " + show(after));
    }

    /** A group of settings ({@code RoutingConfig}, {@code AdminConfig}...), told part by part; a value is told whole. */
    private static boolean isSettings(Object value) {
        return value instanceof Record && value.getClass().getSimpleName().endsWith("Config");
    }

    /** The parts of two records of one type that differ; a token is said to have changed, never shown. */
    private static String parts(Object before, Object after) {
        if (after == null || before.getClass() != after.getClass()) {
            return show(before) + " -> " + show(after);
        }
        List<String> parts = new ArrayList<>();
        for (RecordComponent c : before.getClass().getRecordComponents()) {
            Object x = read(c, before);
            Object y = read(c, after);
            if (!Objects.equals(x, y)) {
                parts.add(c.getName().equals("token") ? "token changed" : c.getName() + " " + show(x) + " -> " + show(y));
            }
        }
        return String.join(", ", parts);
    }

    private static Object read(RecordComponent c, Object record) {
        try {
            return c.getAccessor().invoke(record);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException("cannot read " + c.getName() + " of " + record.getClass(), e);
        }
    }

    private static String show(Object value) {
        if (value instanceof Duration d) {
            long millis = d.toMillis();
            if (millis % 1000 != 0) {
                return millis + "ms";
            }
            return millis > 0 && millis % 86_400_000 == 0 ? millis / 86_400_000 + "d" : millis / 1000 + "s";
        }
        return String.valueOf(value);
    }
}
