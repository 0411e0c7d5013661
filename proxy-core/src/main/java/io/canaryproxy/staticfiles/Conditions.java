package io.canaryproxy.staticfiles;

import io.netty.handler.codec.DateFormatter;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.Date;
import java.util.List;

/**
 * Conditional requests on a static file (RFC 9110 13), evaluated in the RFC's order: {@code If-Match} and
 * {@code If-Unmodified-Since} (a download manager resuming with Range asks that the file has not changed),
 * {@code If-None-Match} and {@code If-Modified-Since}, {@code If-Range}.
 */
final class Conditions {

    private Conditions() {
    }

    /**
     * Whether the answer is 412 (RFC 9110 13.2.2, steps 1 and 2): {@code If-Match} names neither this file's entity
     * tag by strong comparison nor {@code *}; without an If-Match, {@code If-Unmodified-Since} is a valid date older
     * than the file's Last-Modified.
     */
    static boolean preconditionFailed(HttpHeaders headers, FileEntry file) {
        List<String> match = headers.getAll(HttpHeaderNames.IF_MATCH);
        if (!match.isEmpty()) {
            return !anyTagMatches(match, file.etag, false);
        }
        String since = headers.get(HttpHeaderNames.IF_UNMODIFIED_SINCE);
        if (since == null) {
            return false;
        }
        Date date = DateFormatter.parseHttpDate(since);
        return date != null && file.modifiedSeconds() > Math.floorDiv(date.getTime(), 1000);
    }

    /**
     * Whether the client's cached copy is current, so the answer is 304 (RFC 9110 13.2.2, steps 3 and 4):
     * {@code If-None-Match} names the file's entity tag or is {@code *}; without an If-None-Match,
     * {@code If-Modified-Since} is a valid date not older than the file's Last-Modified.
     */
    static boolean notModified(HttpHeaders headers, FileEntry file) {
        List<String> noneMatch = headers.getAll(HttpHeaderNames.IF_NONE_MATCH);
        if (!noneMatch.isEmpty()) {
            return anyTagMatches(noneMatch, file.etag, true);
        }
        String since = headers.get(HttpHeaderNames.IF_MODIFIED_SINCE);
        if (since == null) {
            return false;
        }
        Date date = DateFormatter.parseHttpDate(since);
        // An unparseable date is ignored, as the RFC requires, and the file is sent; so is a date in the future
        // (RFC 9110 13.1.3), which a file once dated ahead of the clock may have left with a client.
        return date != null && date.getTime() <= System.currentTimeMillis()
                && file.modifiedSeconds() <= Math.floorDiv(date.getTime(), 1000);
    }

    /**
     * Whether a Range may be honoured given an {@code If-Range} value (RFC 9110 13.1.5): it must name exactly this
     * version of the file, by strong entity tag or by its Last-Modified date; a weak tag never does. Otherwise the
     * client's partial copy is of another version and gets the whole file.
     */
    static boolean ifRangeHolds(String ifRange, FileEntry file) {
        String value = ifRange.trim();
        if (value.startsWith("\"")) {
            return value.equals(file.etag);
        }
        if (value.startsWith("W/")) {
            return false;
        }
        Date date = DateFormatter.parseHttpDate(value);
        return date != null && Math.floorDiv(date.getTime(), 1000) == file.modifiedSeconds();
    }

    /**
     * Whether header lines of comma-separated entity tags contain {@code etag}, or one of them is {@code *}: by weak
     * comparison ({@code W/} prefixes ignored) for If-None-Match, by strong comparison (a weak tag never matches) for
     * If-Match. Splitting at commas is enough here although a tag may contain a comma: the proxy's own tags never
     * do, so a tag that a comma splits can never be equal to one of them.
     */
    private static boolean anyTagMatches(List<String> lines, String etag, boolean weak) {
        for (String line : lines) {
            if (line.trim().equals("*")) {
                return true;
            }
            for (String tag : line.split(",")) {
                String t = tag.trim();
                if (weak && t.startsWith("W/")) {
                    t = t.substring(2);
                }
                if (t.equals(etag)) {
                    return true;
                }
            }
        }
        return false;
    }
}
