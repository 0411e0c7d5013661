package io.canaryproxy.config;

/**
 * How the proxy serves releases' static files ({@code proxy.static-files}); the same for every release.
 *
 * @param cacheMaxBytes bytes the file cache may hold: file metadata and the content of small files together
 * @param smallFileMax  files up to this size are kept in memory; larger ones are sent from disk, zero-copy
 * @param cacheControl  the {@code Cache-Control} header of every static file response, or "" for none
 * @param fromOtherReleases whether a file the routed release's root lacks comes from another release's root
 *                      under the same prefix (an asset named by a page another release served), rather than 404
 */
public record StaticFilesSettings(long cacheMaxBytes, int smallFileMax, String cacheControl,
                                  boolean fromOtherReleases) {
}
