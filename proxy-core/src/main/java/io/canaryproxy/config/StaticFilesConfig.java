package io.canaryproxy.config;

import java.nio.file.Path;

/** {@code releases.NAME.static { prefix = "/static/", root = "/srv/app/NAME/static" }}. */
public record StaticFilesConfig(String prefix, Path root) {
}
