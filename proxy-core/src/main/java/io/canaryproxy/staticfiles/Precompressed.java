package io.canaryproxy.staticfiles;

/**
 * Precompressed variants of a static file that the build put next to it, as nginx's {@code gzip_static} and
 * {@code brotli_static} serve them: {@code app.css.br} and {@code app.css.gz} (Django's WhiteNoise and
 * django-compressor make both). Nothing is compressed here; a file without a variant goes out as it is.
 */
enum Precompressed {

    /** Brotli first: smaller than gzip for the same text, and every browser that accepts it says so. */
    BR("br", ".br"),
    GZIP("gzip", ".gz");

    /** In order of preference; {@code values()} would copy the array on every call. */
    static final Precompressed[] ALL = values();

    final String coding;
    final String suffix;

    Precompressed(String coding, String suffix) {
        this.coding = coding;
        this.suffix = suffix;
    }

    /**
     * Whether an {@code Accept-Encoding} value accepts this coding (RFC 9110 12.5.3): named with a weight above
     * zero, or not named and {@code *} accepted. No header accepts none: a client that says nothing may not
     * understand a compressed body.
     */
    boolean acceptedBy(String acceptEncoding) {
        if (acceptEncoding == null) {
            return false;
        }
        Boolean named = null;
        boolean any = false;
        for (String item : acceptEncoding.split(",")) {
            int semicolon = item.indexOf(';');
            String token = (semicolon < 0 ? item : item.substring(0, semicolon)).trim();
            boolean allowed = semicolon < 0 || weightAboveZero(item.substring(semicolon + 1));
            if (token.equalsIgnoreCase(coding) || (this == GZIP && token.equalsIgnoreCase("x-gzip"))) {
                named = allowed;
            } else if (token.equals("*")) {
                any = allowed;
            }
        }
        return named != null ? named : any;
    }

    /** {@code q=0}, {@code q=0.0}, {@code q=0.000} are zero; anything else that reads as a weight is not. */
    private static boolean weightAboveZero(String parameters) {
        for (String parameter : parameters.split(";")) {
            String p = parameter.trim();
            if (p.length() > 2 && (p.charAt(0) == 'q' || p.charAt(0) == 'Q') && p.charAt(1) == '=') {
                try {
                    return Double.parseDouble(p.substring(2).trim()) > 0;
                } catch (NumberFormatException e) {
                    return false;
                }
            }
        }
        return true;
    }
}
