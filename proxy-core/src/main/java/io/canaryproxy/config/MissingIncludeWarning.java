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
        warnIfMissing(found, context, "\"" + what + "\"", () -> fallback.include(required(context), what));
        return found;
    }

    @Override
    public ConfigObject includeFile(ConfigIncludeContext context, File what) {
        // The default includer handles every kind; the parser only asks for it as a ConfigIncluderFile.
        ConfigIncluderFile files = (ConfigIncluderFile) fallback;
        ConfigObject found = files.includeFile(context, what);
        warnIfMissing(found, context, "file(\"" + what + "\")", () -> files.includeFile(required(context), what));
        return found;
    }

    private void warnIfMissing(ConfigObject found, ConfigIncludeContext context, String what,
                               Supplier<ConfigObject> asRequired) {
        if (!found.isEmpty() || !context.parseOptions().getAllowMissing()) {
            return;
        }
        try {
            asRequired.get();
        } catch (ConfigException.IO missing) {
            log.warn("config file {}: include {} found no file, so it added nothing (includes are looked up next to"
                    + " the file that includes them; include required(…) makes a missing file an error)",
                    configFile, what);
        }
    }

    private static ConfigIncludeContext required(ConfigIncludeContext context) {
        return context.setParseOptions(context.parseOptions().setAllowMissing(false));
    }
}
