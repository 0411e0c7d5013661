package io.canaryproxy.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigOrigin;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigUtil;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Reads and validates the proxy's configuration.
 *
 * <p>Every key lives under the root {@code proxy}. Layers, the first one winning:
 * <ol>
 *   <li>Java system properties named {@code proxy.KEY}, e.g. {@code -Dproxy.listen=0.0.0.0:80};</li>
 *   <li>environment variables named {@code CANARY_PROXY_KEY}: after the prefix, the name is lowercased and
 *       {@code _} stands for {@code .}, {@code __} for {@code -} and {@code ___} for {@code _}, so
 *       {@code CANARY_PROXY_UPSTREAM_CONNECT__TIMEOUT=5s} sets {@code proxy.upstream.connect-timeout} (except the
 *       variables of {@code ctl}, {@link #NON_CONFIG_VARIABLES});</li>
 *   <li>the config file (HOCON);</li>
 *   <li>the defaults in {@code reference.conf}.</li>
 * </ol>
 * A system property or environment variable value that starts with {@code [} is read as a HOCON list
 * ({@code ["10.0.0.1", "10.0.0.2"]}); any other value is a string, converted to a number, duration, size or
 * boolean where the key needs one. A key whose path contains a dot inside a name (a release called {@code v1.2})
 * cannot be set this way.
 *
 * <p>The result is validated as a whole; a {@link ConfigException} lists every problem found, each naming the key,
 * the value, what was expected and where the value came from. Keys that {@code reference.conf} does not have are
 * errors, except under {@code proxy.releases} (checked separately).
 *
 * <p>Substitutions such as {@code ${?HOME}} are resolved after the layers are merged, and may also fall back to the
 * process environment.
 */
public final class ConfigLoader {

    /** The root of every key. */
    public static final String ROOT = "proxy";

    /** Prefix of the environment variables that override keys. */
    public static final String ENV_PREFIX = "CANARY_PROXY_";

    /**
     * Variables with the {@link #ENV_PREFIX} that are no config keys and are skipped: {@code canary-proxy ctl} reads
     * them (the admin API's URL, the admin token), so that one environment can serve the proxy and {@code ctl}.
     * {@code CANARY_PROXY_ADMIN_TOKEN} is not among them: it is {@code proxy.admin.token}, the proxy's own token,
     * which {@code ctl} also falls back to.
     */
    public static final Set<String> NON_CONFIG_VARIABLES = Set.of("CANARY_PROXY_ADMIN_URL", "CANARY_PROXY_TOKEN");

    private static final String SYSTEM_PROPERTY_PREFIX = ROOT + ".";

    private ConfigLoader() {
    }

    /**
     * Loads {@code file} with the process's system properties and environment variables on top.
     *
     * @throws ConfigException when the file is missing or unreadable, has a syntax error, or the result is invalid
     */
    public static ProxyConfig load(Path file) {
        return load(file, System.getenv(), System.getProperties());
    }

    /**
     * Loads {@code file} with the given system properties and environment variables on top; only
     * {@code proxy.*} properties and {@code CANARY_PROXY_*} variables are used, but for
     * {@link #NON_CONFIG_VARIABLES}.
     *
     * @throws ConfigException when the file is missing or unreadable, has a syntax error, an override does not name
     *                         a key, or the result is invalid
     */
    public static ProxyConfig load(Path file, Map<String, String> env, Properties sysProps) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(env, "env");
        Objects.requireNonNull(sysProps, "sysProps");
        Config fromFile = parseFile(file);
        checkRoots(fromFile, file);
        Config layered = systemPropertyOverrides(sysProps)
                .withFallback(environmentOverrides(env))
                .withFallback(fromFile);
        return fromConfig(layered);
    }

    /**
     * Validates an already assembled configuration, for embedding and tests. {@code config} holds the
     * {@code proxy} root (other roots are ignored); {@code reference.conf} fills in the defaults. No system
     * property or environment variable is consulted, except by substitutions.
     *
     * @throws ConfigException when the result is invalid
     */
    public static ProxyConfig fromConfig(Config config) {
        Objects.requireNonNull(config, "config");
        Config resolved;
        try {
            resolved = config.withFallback(Reference.CONFIG).resolve();
        } catch (com.typesafe.config.ConfigException e) {
            throw new ConfigException(e.getMessage(), e);
        }
        return new ConfigBinder(resolved, Reference.CONFIG).bind();
    }

    /** The defaults: the {@code proxy} root of {@code reference.conf}. */
    public static Config defaults() {
        return Reference.CONFIG;
    }

    private static final java.util.regex.Pattern JAVA_EXCEPTION =
            java.util.regex.Pattern.compile("\\bjava\\.[\\w.]+(?:Exception|Error): ");

    static Config parseFile(Path file) {
        if (!Files.exists(file)) {
            throw new ConfigException("config file not found: " + file);
        }
        if (!Files.isRegularFile(file)) {
            throw new ConfigException("config file is not a regular file: " + file);
        }
        try {
            return ConfigFactory.parseFile(file.toFile(), ConfigParseOptions.defaults()
                    .setAllowMissing(false)
                    .setIncluder(new MissingIncludeWarning(file)));
        } catch (com.typesafe.config.ConfigException.Parse e) {
            throw new ConfigException(syntaxError(e, file), e);
        } catch (com.typesafe.config.ConfigException.IO e) {
            // Typesafe Config says which include failed, then the Java exception's own text: the class name is of
            // no use to an operator, where relative includes are looked up is.
            String why = JAVA_EXCEPTION.matcher(e.getMessage()).replaceAll("");
            throw new ConfigException("cannot read config file " + file + ": " + why
                    + (why.contains("not found") ? " (includes are looked up next to the file that includes them: "
                    + file.toAbsolutePath().getParent() + ")" : ""), e);
        } catch (com.typesafe.config.ConfigException e) {
            throw new ConfigException("config file " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Refuses a key of the file outside {@code proxy} that looks like a misspelt {@code proxy} ({@code prxy},
     * {@code Proxy}), or that is a setting of the proxy written outside its block ({@code admin.token = …} after
     * the closing brace): every setting under it would otherwise be dropped without a word, an admin token
     * included. Other keys outside {@code proxy} are allowed, as values for substitutions ({@code timeout = 3s} and
     * {@code ${timeout}} below).
     */
    private static void checkRoots(Config fromFile, Path file) {
        List<String> unknown = new ArrayList<>();
        java.util.Set<String> settings = Reference.CONFIG.getObject(ROOT).keySet();
        for (Map.Entry<String, ConfigValue> e : new TreeMap<>(fromFile.root()).entrySet()) {
            String name = e.getKey();
            ConfigOrigin origin = e.getValue().origin();
            String where = " (in " + file + (origin.lineNumber() >= 0 ? ":" + origin.lineNumber() : "") + ")";
            if (!name.equals(ROOT) && ConfigBinder.editDistance(name.toLowerCase(Locale.ROOT), ROOT) <= 2) {
                unknown.add("unknown key " + ConfigUtil.joinPath(name) + where + "; did you mean " + ROOT + "?");
            } else if (settings.contains(name)) {
                unknown.add("key " + ConfigUtil.joinPath(name) + where + " is outside the " + ROOT + " { } block,"
                        + " where it would be ignored; did you mean " + ROOT + "." + ConfigUtil.joinPath(name) + "?");
            }
        }
        if (!unknown.isEmpty()) {
            throw ConfigException.of(unknown);
        }
    }

    /** {@code syntax error in /etc/proxy.conf at line 4: Expecting close brace } or a comma, got end of file}. */
    private static String syntaxError(com.typesafe.config.ConfigException.Parse e, Path file) {
        ConfigOrigin origin = e.origin();
        String detail = e.getMessage();
        String where = file.toString();
        if (origin != null) {
            String prefix = origin.description() + ": ";
            if (detail.startsWith(prefix)) {
                detail = detail.substring(prefix.length());
            }
            if (origin.filename() != null) {
                where = origin.filename();
            }
            if (origin.lineNumber() >= 0) {
                where += " at line " + origin.lineNumber();
            }
        }
        if (detail.endsWith("end of file")) {
            // Typesafe Config asks for a "close parentheses ')'" whatever was left open.
            detail += " (a { or [ opened earlier is not closed)";
        }
        return "syntax error in " + where + ": " + detail;
    }

    /** The {@code CANARY_PROXY_*} variables, but for {@link #NON_CONFIG_VARIABLES}, as a config with the root. */
    static Config environmentOverrides(Map<String, String> env) {
        Config result = ConfigFactory.empty();
        for (Map.Entry<String, String> e : new TreeMap<>(env).entrySet()) {
            String name = e.getKey();
            if (name.startsWith(ENV_PREFIX) && e.getValue() != null && !NON_CONFIG_VARIABLES.contains(name)) {
                String origin = "environment variable " + name;
                result = withValue(result, ROOT + "." + environmentVariableToKey(name), e.getValue(), origin);
            }
        }
        return result;
    }

    /** The {@code proxy.*} system properties as a config. */
    static Config systemPropertyOverrides(Properties sysProps) {
        Config result = ConfigFactory.empty();
        for (String name : new TreeSet<>(sysProps.stringPropertyNames())) {
            if (name.startsWith(SYSTEM_PROPERTY_PREFIX)) {
                result = withValue(result, name, sysProps.getProperty(name), "system property " + name);
            }
        }
        return result;
    }

    /**
     * {@code CANARY_PROXY_UPSTREAM_CONNECT__TIMEOUT} → {@code upstream.connect-timeout} (without the root): the
     * name is lowercased, {@code _} becomes {@code .}, {@code __} {@code -} and {@code ___} {@code _}.
     *
     * @throws ConfigException when the name does not map to a key
     */
    static String environmentVariableToKey(String name) {
        String rest = name.substring(ENV_PREFIX.length()).toLowerCase(Locale.ROOT);
        StringBuilder key = new StringBuilder(rest.length());
        int i = 0;
        while (i < rest.length()) {
            char c = rest.charAt(i);
            if (c != '_') {
                key.append(c);
                i++;
                continue;
            }
            int run = 0;
            while (i < rest.length() && rest.charAt(i) == '_') {
                run++;
                i++;
            }
            switch (run) {
                case 1 -> key.append('.');
                case 2 -> key.append('-');
                case 3 -> key.append('_');
                default -> throw badVariableName(name);
            }
        }
        if (key.length() == 0 || key.charAt(0) == '.' || key.charAt(key.length() - 1) == '.') {
            throw badVariableName(name);
        }
        return key.toString();
    }

    private static ConfigException badVariableName(String name) {
        return new ConfigException("environment variable " + name + " does not name a key: expected " + ENV_PREFIX
                + " and a key with _ for '.', __ for '-' and ___ for '_', "
                + "e.g. CANARY_PROXY_UPSTREAM_CONNECT__TIMEOUT for proxy.upstream.connect-timeout");
    }

    private static Config withValue(Config config, String path, String text, String origin) {
        try {
            return config.withValue(path, parseValue(text, origin));
        } catch (com.typesafe.config.ConfigException.BadPath e) {
            throw new ConfigException(origin + " does not name a valid key: " + path, e);
        }
    }

    /** A list when the text starts with {@code [}, otherwise a string. */
    static ConfigValue parseValue(String text, String origin) {
        String trimmed = text.trim();
        if (!trimmed.startsWith("[")) {
            return ConfigValueFactory.fromAnyRef(text, origin);
        }
        try {
            ConfigValue list = ConfigFactory.parseString("value = " + trimmed).resolve().getValue("value");
            return ConfigValueFactory.fromAnyRef(list.unwrapped(), origin);
        } catch (com.typesafe.config.ConfigException e) {
            throw new ConfigException(origin + " = \"" + text + "\": expected a list such as [\"a\", \"b\"]", e);
        }
    }

    /** Parsed once; the {@code proxy} root of every {@code reference.conf} on the class path (only ours has one). */
    private static final class Reference {

        static final Config CONFIG = load();

        private static Config load() {
            Config all = ConfigFactory.parseResources(ConfigLoader.class.getClassLoader(), "reference.conf",
                    ConfigParseOptions.defaults().setAllowMissing(false));
            ConfigValue proxy = all.root().get(ROOT);
            if (!(proxy instanceof ConfigObject)) {
                throw new IllegalStateException("reference.conf with a proxy root is missing from the class path");
            }
            return all.withOnlyPath(ROOT).resolve();
        }
    }
}
