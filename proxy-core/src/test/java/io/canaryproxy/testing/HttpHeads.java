package io.canaryproxy.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/** Reading a message head off a raw socket, for tests that speak HTTP byte by byte. */
public final class HttpHeads {

    private HttpHeads() {
    }

    /**
     * The next head from {@code in}, up to and including the empty line that ends it, as ISO-8859-1 text; the
     * stream is left at the first byte after it.
     *
     * @throws IOException when the stream ends before the head does
     */
    public static String read(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream(256);
        int matched = 0;
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("closed before the end of the head: "
                        + head.toString(StandardCharsets.ISO_8859_1));
            }
            head.write(b);
            matched = b == "\r\n\r\n".charAt(matched) ? matched + 1 : b == '\r' ? 1 : 0;
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }
}
