package io.canaryproxy.upstream;

import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;

/** Where the result of a connect is handled: on the event loop that owns the state it changes. */
final class ConnectResults {

    private ConnectResults() {
    }

    /**
     * Runs {@code handle} on {@code loop} once {@code connect} is done. A channel that could not even be made (no
     * descriptor left) fails on Netty's global executor, not on the loop it was meant for.
     */
    static void onLoop(ChannelFuture connect, EventLoop loop, Runnable handle) {
        connect.addListener(f -> {
            if (loop.inEventLoop()) {
                handle.run();
            } else {
                loop.execute(handle);
            }
        });
    }
}
