package io.canaryproxy.listener;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.DateFormatter;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.util.AsciiString;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Calendar;
import java.util.Collections;
import java.util.Date;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The headers of a request the listener decoded: names and values in arrival order in one array, found by a
 * case-insensitive scan. A request carries a dozen headers or so, and the proxy looks up a handful of them once
 * each; scanning costs less than hashing every name on the way in, and the whole set is a few objects, where Netty's
 * {@code DefaultHttpHeaders} builds a 16-slot table and an entry per header for every request.
 *
 * <p>Values are kept as they were added: Strings, or ranges of the head's bytes ({@link RequestHeadParser}), each made
 * a view only when it is read: the rewrite copies the bytes of the many values nobody reads. Names and
 * values are not validated here: the decoder checked the head's bytes before they were parsed. Not thread-safe,
 * like the request it belongs to. Several {@code Cookie} headers are kept as one (see {@link #joinCookies}).
 */
final class RequestHeaders extends HttpHeaders {

    /** Makes the request decoder put its headers here. */
    static final HttpHeadersFactory FACTORY = new HttpHeadersFactory() {
        @Override
        public HttpHeaders newHeaders() {
            return new RequestHeaders();
        }

        @Override
        public HttpHeaders newEmptyHeaders() {
            return new RequestHeaders();
        }
    };

    /** Room for this many headers when the first is added to headers nobody {@link #reserve sized}. */
    private static final int DEFAULT_HEADERS = 12;
    private static final CharSequence[] NONE = {};

    private static final int COOKIE_LENGTH = HttpHeaderNames.COOKIE.length();

    /** Name of header i at 2i, its value at 2i + 1; a value still in {@link #head} is {@code null} here. */
    private CharSequence[] slots = NONE;
    private int size;
    /** The head the parser copied, and where in it lie the values not read yet: start at 2i, length at 2i + 1. */
    private byte[] head;
    private int[] spans;

    /** These headers, or a copy of others in their iteration order. */
    static RequestHeaders of(HttpHeaders headers) {
        if (headers instanceof RequestHeaders request) {
            return request;
        }
        RequestHeaders copy = new RequestHeaders();
        Iterator<Map.Entry<CharSequence, CharSequence>> it = headers.iteratorCharSequence();
        while (it.hasNext()) {
            Map.Entry<CharSequence, CharSequence> e = it.next();
            copy.append(e.getKey(), e.getValue());
        }
        return copy;
    }

    /**
     * Makes room for {@code headers} headers in all, if there is less. The decoder calls this with the number of
     * header lines it has seen before the first is added, so that a request's headers take one array of the right
     * size: most requests are a few headers from a tool or a dozen from a browser, and one guess fits neither.
     */
    void reserve(int headers) {
        if (2 * headers > slots.length) {
            slots = Arrays.copyOf(slots, 2 * headers);
            if (spans != null) {
                spans = Arrays.copyOf(spans, 2 * headers);
            }
        }
    }

    /** The name of the {@code i}th header, in arrival order. */
    CharSequence name(int i) {
        return slots[2 * i];
    }

    /** The value of the {@code i}th header. */
    CharSequence value(int i) {
        CharSequence v = slots[2 * i + 1];
        return v != null ? v : view(i);
    }

    private CharSequence view(int i) {
        CharSequence v = viewOf(head, spans[2 * i], spans[2 * i + 1]);
        slots[2 * i + 1] = v;
        return v;
    }

    private static CharSequence viewOf(byte[] bytes, int start, int length) {
        return length == 0 ? AsciiString.EMPTY_STRING : new AsciiString(bytes, start, length, false);
    }

    /** Writes the value of the {@code i}th header; straight from the head's bytes when nobody has read it. */
    void writeValue(int i, ByteBuf out) {
        CharSequence v = slots[2 * i + 1];
        if (v == null) {
            out.writeBytes(head, spans[2 * i], spans[2 * i + 1]);
        } else {
            HeaderRewriter.writeText(out, v);
        }
    }

    /**
     * Adds a header whose value is {@code length} bytes of {@code bytes} from {@code start}, left there until it is
     * read. Every header added this way comes from the same head.
     */
    void addFromHead(CharSequence name, byte[] bytes, int start, int length) {
        if (name.length() == COOKIE_LENGTH && HttpHeaderNames.COOKIE.contentEqualsIgnoreCase(name)
                && indexOf(HttpHeaderNames.COOKIE, 0) >= 0) {
            append(name, viewOf(bytes, start, length));
            return;
        }
        if (2 * size == slots.length) {
            reserve(size == 0 ? DEFAULT_HEADERS : 2 * size);
        }
        if (spans == null) {
            head = bytes;
            spans = new int[slots.length];
        }
        spans[2 * size] = start;
        spans[2 * size + 1] = length;
        slots[2 * size] = name;
        slots[2 * size + 1] = null;
        size++;
    }

    /** Makes a view of every value still in the head, before the headers are rearranged or copied. */
    private void viewAll() {
        if (spans != null) {
            for (int i = 0; i < size; i++) {
                value(i);
            }
            spans = null;
            head = null;
        }
    }

    private int indexOf(CharSequence name, int from) {
        CharSequence[] s = slots;
        for (int i = from; i < size; i++) {
            if (AsciiString.contentEqualsIgnoreCase(s[2 * i], name)) {
                return i;
            }
        }
        return -1;
    }

    /** The first value of {@code name} as it is kept, without making a String of it; {@code null} if absent. */
    CharSequence first(CharSequence name) {
        int i = indexOf(name, 0);
        return i < 0 ? null : value(i);
    }

    private void append(CharSequence name, Object value) {
        Objects.requireNonNull(name, "name");
        CharSequence text = asText(Objects.requireNonNull(value, "value"));
        if (name.length() == COOKIE_LENGTH && HttpHeaderNames.COOKIE.contentEqualsIgnoreCase(name)) {
            int first = indexOf(HttpHeaderNames.COOKIE, 0);
            if (first >= 0) {
                slots[2 * first + 1] = joinCookies(value(first), text);
                return;
            }
        }
        if (2 * size == slots.length) {
            reserve(size == 0 ? DEFAULT_HEADERS : 2 * size);
        }
        slots[2 * size] = name;
        slots[2 * size + 1] = text;
        size++;
    }

    /**
     * A second {@code Cookie} header joins the first, after {@code "; "} (RFC 9113 8.2.3, RFC 6265 5.4: one Cookie
     * header). A front end passing HTTP/2 cookie crumbs on sends several; joined, the routing finds a bucket or a
     * {@code cp_release} pin in any of them with one scan, and the upstream gets one header (gunicorn would join
     * several with {@code ", "}, which Django reads as part of a value).
     */
    private static CharSequence joinCookies(CharSequence first, CharSequence more) {
        if (more.length() == 0) {
            return first;
        }
        if (first.length() == 0) {
            return more;
        }
        return new StringBuilder(first.length() + 2 + more.length()).append(first).append("; ").append(more)
                .toString();
    }

    /** Values other than text are stored the way Netty's headers store them: dates in the HTTP format. */
    private static CharSequence asText(Object value) {
        if (value instanceof CharSequence text) {
            return text;
        }
        if (value instanceof Date date) {
            return DateFormatter.format(date);
        }
        if (value instanceof Calendar calendar) {
            return DateFormatter.format(calendar.getTime());
        }
        return value.toString();
    }

    // ---------------------------------------------------------------- reading

    @Override
    public String get(String name) {
        return get((CharSequence) name);
    }

    @Override
    public String get(CharSequence name) {
        CharSequence value = first(name);
        return value == null ? null : value.toString();
    }

    @Override
    public Integer getInt(CharSequence name) {
        CharSequence value = first(name);
        if (value == null) {
            return null;
        }
        try {
            return Integer.parseInt(value.toString());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    @Override
    public int getInt(CharSequence name, int defaultValue) {
        Integer value = getInt(name);
        return value == null ? defaultValue : value;
    }

    @Override
    public Short getShort(CharSequence name) {
        // Short.parseShort is Integer.parseInt and a range check.
        Integer value = getInt(name);
        return value == null || value != (short) value.intValue() ? null : value.shortValue();
    }

    @Override
    public short getShort(CharSequence name, short defaultValue) {
        Short value = getShort(name);
        return value == null ? defaultValue : value;
    }

    @Override
    public Long getTimeMillis(CharSequence name) {
        CharSequence value = first(name);
        Date date = value == null ? null : DateFormatter.parseHttpDate(value);
        return date == null ? null : date.getTime();
    }

    @Override
    public long getTimeMillis(CharSequence name, long defaultValue) {
        Long value = getTimeMillis(name);
        return value == null ? defaultValue : value;
    }

    @Override
    public List<String> getAll(String name) {
        return getAll((CharSequence) name);
    }

    @Override
    public List<String> getAll(CharSequence name) {
        int i = indexOf(name, 0);
        if (i < 0) {
            return Collections.emptyList();
        }
        List<String> values = new ArrayList<>(2);
        for (; i >= 0; i = indexOf(name, i + 1)) {
            values.add(value(i).toString());
        }
        return values;
    }

    @Override
    public boolean contains(String name) {
        return indexOf(name, 0) >= 0;
    }

    @Override
    public boolean contains(CharSequence name) {
        return indexOf(name, 0) >= 0;
    }

    @Override
    public boolean contains(String name, String value, boolean ignoreCase) {
        return contains((CharSequence) name, value, ignoreCase);
    }

    @Override
    public boolean contains(CharSequence name, CharSequence value, boolean ignoreCase) {
        for (int i = indexOf(name, 0); i >= 0; i = indexOf(name, i + 1)) {
            CharSequence v = value(i);
            if (ignoreCase ? AsciiString.contentEqualsIgnoreCase(v, value) : AsciiString.contentEquals(v, value)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean containsValue(CharSequence name, CharSequence value, boolean ignoreCase) {
        // Asked for every request (keep-alive, upgrade), and most browsers send Connection: answered in place,
        // without the String per value, list and iterator of HttpHeaders' own code.
        for (int i = indexOf(name, 0); i >= 0; i = indexOf(name, i + 1)) {
            if (listContains(value(i), value, ignoreCase)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether an element of the comma-separated {@code list}, trimmed, is {@code expected}: what {@link HttpHeaders}
     * answers for one value, down to an empty element after the last comma not counting. Trimmed of characters up
     * to the space, as {@link String#trim()} trims; a value from the head's bytes is trimmed the same way as one
     * made a String of them.
     */
    static boolean listContains(CharSequence list, CharSequence expected, boolean ignoreCase) {
        int n = list.length();
        int begin = 0;
        while (true) {
            int end = AsciiString.indexOf(list, ',', begin);
            if (end < 0) {
                return (begin < n || begin == 0) && elementIs(list, begin, n, expected, ignoreCase);
            }
            if (elementIs(list, begin, end, expected, ignoreCase)) {
                return true;
            }
            begin = end + 1;
        }
    }

    private static boolean elementIs(CharSequence list, int from, int to, CharSequence expected, boolean ignoreCase) {
        while (from < to && list.charAt(from) <= ' ') {
            from++;
        }
        while (to > from && list.charAt(to - 1) <= ' ') {
            to--;
        }
        int length = expected.length();
        return to - from == length && AsciiString.regionMatchesAscii(list, ignoreCase, from, expected, 0, length);
    }

    @Override
    public boolean isEmpty() {
        return size == 0;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public Set<String> names() {
        Set<String> names = new LinkedHashSet<>();
        for (int i = 0; i < size; i++) {
            names.add(slots[2 * i].toString());
        }
        return names;
    }

    @Override
    public List<Map.Entry<String, String>> entries() {
        List<Map.Entry<String, String>> entries = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            entries.add(new AbstractMap.SimpleImmutableEntry<>(slots[2 * i].toString(), value(i).toString()));
        }
        return entries;
    }

    @Override
    public Iterator<Map.Entry<String, String>> iterator() {
        return entries().iterator();
    }

    @Override
    public Iterator<Map.Entry<CharSequence, CharSequence>> iteratorCharSequence() {
        List<Map.Entry<CharSequence, CharSequence>> entries = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            entries.add(new AbstractMap.SimpleImmutableEntry<>(slots[2 * i], value(i)));
        }
        return entries.iterator();
    }

    // ---------------------------------------------------------------- changing

    @Override
    public HttpHeaders add(String name, Object value) {
        append(name, value);
        return this;
    }

    @Override
    public HttpHeaders add(CharSequence name, Object value) {
        append(name, value);
        return this;
    }

    @Override
    public HttpHeaders add(String name, Iterable<?> values) {
        return add((CharSequence) name, values);
    }

    @Override
    public HttpHeaders add(CharSequence name, Iterable<?> values) {
        for (Object value : values) {
            append(name, value);
        }
        return this;
    }

    @Override
    public HttpHeaders addInt(CharSequence name, int value) {
        append(name, Integer.toString(value));
        return this;
    }

    @Override
    public HttpHeaders addShort(CharSequence name, short value) {
        append(name, Short.toString(value));
        return this;
    }

    @Override
    public HttpHeaders set(String name, Object value) {
        return set((CharSequence) name, value);
    }

    @Override
    public HttpHeaders set(CharSequence name, Object value) {
        Objects.requireNonNull(value, "value");
        remove(name);
        append(name, value);
        return this;
    }

    @Override
    public HttpHeaders set(String name, Iterable<?> values) {
        return set((CharSequence) name, values);
    }

    @Override
    public HttpHeaders set(CharSequence name, Iterable<?> values) {
        Objects.requireNonNull(values, "values");
        remove(name);
        return add(name, values);
    }

    @Override
    public HttpHeaders setInt(CharSequence name, int value) {
        return set(name, Integer.toString(value));
    }

    @Override
    public HttpHeaders setShort(CharSequence name, short value) {
        return set(name, Short.toString(value));
    }

    @Override
    public HttpHeaders remove(String name) {
        return remove((CharSequence) name);
    }

    @Override
    public HttpHeaders remove(CharSequence name) {
        viewAll();
        CharSequence[] s = slots;
        int kept = 0;
        for (int i = 0; i < size; i++) {
            if (!AsciiString.contentEqualsIgnoreCase(s[2 * i], name)) {
                s[2 * kept] = s[2 * i];
                s[2 * kept + 1] = s[2 * i + 1];
                kept++;
            }
        }
        Arrays.fill(s, 2 * kept, 2 * size, null);
        size = kept;
        return this;
    }

    @Override
    public HttpHeaders clear() {
        Arrays.fill(slots, 0, 2 * size, null);
        spans = null;
        head = null;
        size = 0;
        return this;
    }

    @Override
    public HttpHeaders copy() {
        viewAll();
        RequestHeaders copy = new RequestHeaders();
        copy.slots = Arrays.copyOf(slots, slots.length);
        copy.size = size;
        return copy;
    }
}
