/**
 * Pieces shared by the other packages of proxy-core. Public only so that they can be shared; not part of the API
 * for embedding the proxy, and free to change.
 */
package io.canaryproxy.internal;
