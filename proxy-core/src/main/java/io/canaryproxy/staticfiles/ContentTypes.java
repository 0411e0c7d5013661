package io.canaryproxy.staticfiles;

import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Content-Type by file extension, for what a Django project's {@code STATIC_ROOT} typically holds. Browsers
 * refuse scripts, style sheets and WebAssembly served with the wrong type, so guessing from content is not an
 * option; anything unknown is {@code application/octet-stream}.
 */
final class ContentTypes {

    static final String DEFAULT = "application/octet-stream";

    private static final String UTF8 = "; charset=utf-8";

    private static final Map<String, String> BY_EXTENSION = Map.ofEntries(
            Map.entry("css", "text/css" + UTF8),
            Map.entry("js", "text/javascript" + UTF8),
            Map.entry("mjs", "text/javascript" + UTF8),
            Map.entry("html", "text/html" + UTF8),
            Map.entry("txt", "text/plain" + UTF8),
            Map.entry("svg", "image/svg+xml"),
            Map.entry("png", "image/png"),
            Map.entry("jpg", "image/jpeg"),
            Map.entry("jpeg", "image/jpeg"),
            Map.entry("gif", "image/gif"),
            Map.entry("webp", "image/webp"),
            Map.entry("avif", "image/avif"),
            Map.entry("bmp", "image/bmp"),
            Map.entry("tif", "image/tiff"),
            Map.entry("tiff", "image/tiff"),
            Map.entry("ico", "image/x-icon"),
            Map.entry("woff", "font/woff"),
            Map.entry("woff2", "font/woff2"),
            Map.entry("ttf", "font/ttf"),
            Map.entry("otf", "font/otf"),
            Map.entry("eot", "application/vnd.ms-fontobject"),
            Map.entry("mp4", "video/mp4"),
            Map.entry("webm", "video/webm"),
            Map.entry("ogv", "video/ogg"),
            Map.entry("mp3", "audio/mpeg"),
            Map.entry("ogg", "audio/ogg"),
            Map.entry("oga", "audio/ogg"),
            Map.entry("wav", "audio/wav"),
            Map.entry("vtt", "text/vtt" + UTF8),
            Map.entry("csv", "text/csv" + UTF8),
            Map.entry("json", "application/json"),
            Map.entry("webmanifest", "application/manifest+json"),
            Map.entry("atom", "application/atom+xml"),
            Map.entry("rss", "application/rss+xml"),
            Map.entry("zip", "application/zip"),
            // Source maps are JSON; browsers' developer tools do not look at the type.
            Map.entry("map", "application/json"),
            Map.entry("xml", "application/xml"),
            Map.entry("pdf", "application/pdf"),
            // WebAssembly.instantiateStreaming() insists on exactly this type.
            Map.entry("wasm", "application/wasm"));

    private static final Set<String> COMPRESSED = Set.of("image/png", "image/jpeg", "image/gif", "image/webp",
            "image/avif", "font/woff", "font/woff2", "video/mp4", "video/webm", "video/ogg", "audio/mpeg", "audio/ogg",
            "application/zip", "application/pdf");

    private ContentTypes() {
    }

    /**
     * Whether files of the type are compressed already (images other than SVG, WOFF fonts, audio, video,
     * archives, PDF): no build makes a precompressed variant of them, so none is looked for.
     */
    static boolean compressed(String type) {
        return COMPRESSED.contains(type);
    }

    /** The Content-Type for a file name such as {@code app.min.CSS}; case-insensitive on the extension. */
    static String of(String fileName) {
        int dot = fileName.lastIndexOf('.');
        int slash = fileName.lastIndexOf('/');
        if (dot <= slash + 1) {
            // No extension, or a dot file such as ".htaccess".
            return DEFAULT;
        }
        String type = BY_EXTENSION.get(fileName.substring(dot + 1).toLowerCase(Locale.ROOT));
        return type != null ? type : DEFAULT;
    }
}
