package io.canaryproxy.config;

import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigIncludeContext;
import com.typesafe.config.ConfigIncluder;
import com.typesafe.config.ConfigIncluderFile;
import com.typesafe.config.ConfigObject;
import java.io.File;
import java.nio.file.Path;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs a warning for an {@code include "…"} or {@code include file("…")} that found nothing. HOCON ignores such an
 * include without a word, so a misspelt {@code include "secrets.conf"} would leave the admin API without the token
 * the file holds; {@code include required(…)} is the operator's way to make it an error instead.
 *
 * <p>Typesafe Config hands an includer its default as the fallback; this one asks the default, and only when the
 * answer is empty asks again with the file required, which tells a missing file from an empty one.
 */
final class MissingIncludeWarning implements ConfigIncluder, ConfigIncluderFile {

    private static final Logger log = LoggerFactory.getLogger(ConfigLoader.class);
    private static final ThreadLocal<Boolean> PROBING = ThreadLocal.withInitial(() -> false);

    private final Path configFile;
    private final ConfigIncluder fallback;

    MissingIncludeWarning(Path configFile) {
        this(configFile, null);
    }

    private MissingIncludeWarning(Path configFile, ConfigIncluder fallback) {
        this.configFile = configFile;
        this.fallback = fallback;
    }

    @Override
    public ConfigIncluder withFallback(ConfigIncluder fallback) {
        return this.fallback == null ? new MissingIncludeWarning(configFile, fallback) : this;
    }

    @Override
    public ConfigObject include(ConfigIncludeContext context, String what) {
        ConfigObject found = fallback.include(context, what);
        warnIfMissing(found, context, "\"" + what + "\"", "looked up next to the file that includes it",
                () -> fallback.include(required(context), what));
        return found;
    }

    @Override
    public ConfigObject includeFile(ConfigIncludeContext context, File what) {
        // The default includer handles every kind; the parser only asks for it as a ConfigIncluderFile.
        ConfigIncluderFile files = (ConfigIncluderFile) fallback;
        ConfigObject found = files.includeFile(context, what);
        warnIfMissing(found, context, "file(\"" + what + "\")", what.isAbsolute() ? "an absolute path"
                        : "a relative file() is looked up from the working directory, " + Path.of("").toAbsolutePath(),
                () -> files.includeFile(required(context), what));
        return found;
    }

    /**
     * Parses the include again as required when it added nothing, which tells a missing or unreadable file from an
     * empty one. The parse runs the includes inside it again: they said their own warnings the first time.
     */
    private void warnIfMissing(ConfigObject found, ConfigIncludeContext context, String what, String lookedUp,
                               Supplier<ConfigObject> asRequired) {
        if (!found.isEmpty() || !context.parseOptions().getAllowMissing() || PROBING.get()) {
            return;
        }
        PROBING.set(true);
        try {
            asRequired.get();
        } catch (ConfigException.IO missing) {
            // Read as optional, a file the proxy may not read counts as missing too.
            String why = String.valueOf(missing.getMessage()).contains("Permission denied")
                    ? "found a file it may not read" : "found no file";
            log.warn("config file {} (or a file it includes): include {} {}, so it added nothing ({}; include"
                    + " required(…) makes this an error)", configFile, what, why, lookedUp);
        } catch (ConfigException other) {
            // Read as required it has a problem of its own, which the first parse would have reported.
        } finally {
            PROBING.set(false);
        }
    }

    private static ConfigIncludeContext required(ConfigIncludeContext context) {
        return context.setParseOptions(context.parseOptions().setAllowMissing(false));
    }
}
