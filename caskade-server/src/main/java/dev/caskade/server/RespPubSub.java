package dev.caskade.server;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The server's pub/sub registry: which connections listen on which channel and pattern. PUBLISH only hands each
 * matching subscriber its message, which it queues on its own socket without waiting, so a publisher is never
 * slowed by a slow subscriber (that one is disconnected instead, see {@link RespSubscriber}).
 */
final class RespPubSub {
    private static final RespReply MESSAGE = RespReply.bulk("message");
    private static final RespReply PMESSAGE = RespReply.bulk("pmessage");

    /** A subscribed pattern: its matcher and its subscribers. */
    private record Pattern(byte[] name, RespGlob glob, Set<RespSubscriber> subscribers) {}

    private final Map<ByteBuffer, Set<RespSubscriber>> channels = new ConcurrentHashMap<>();
    private final Map<ByteBuffer, Pattern> patterns = new ConcurrentHashMap<>();

    // every change to a set happens inside compute, so a set emptied and dropped by one connection can never
    // swallow another connection's concurrent subscription

    void subscribe(ByteBuffer channel, RespSubscriber s) {
        channels.compute(channel, (k, subs) -> {
            Set<RespSubscriber> set = subs == null ? ConcurrentHashMap.newKeySet() : subs;
            set.add(s);
            return set;
        });
    }

    void unsubscribe(ByteBuffer channel, RespSubscriber s) {
        channels.computeIfPresent(channel, (k, subs) -> {
            subs.remove(s);
            return subs.isEmpty() ? null : subs;
        });
    }

    void psubscribe(ByteBuffer pattern, RespSubscriber s) {
        patterns.compute(pattern, (k, p) -> {
            Pattern q = p != null ? p : new Pattern(bytes(k), new RespGlob(bytes(k)), ConcurrentHashMap.newKeySet());
            q.subscribers().add(s);
            return q;
        });
    }

    void punsubscribe(ByteBuffer pattern, RespSubscriber s) {
        patterns.computeIfPresent(pattern, (k, p) -> {
            p.subscribers().remove(s);
            return p.subscribers().isEmpty() ? null : p;
        });
    }

    /** Sends {@code message} to the channel's and the matching patterns' subscribers; returns how many got it. */
    long publish(byte[] channel, byte[] message) {
        long receivers = 0;
        ByteBuffer key = ByteBuffer.wrap(channel);
        Set<RespSubscriber> subs = channels.get(key);
        if (subs != null) {
            RespReply frame =
                    new RespReply.Push(List.of(MESSAGE, new RespReply.Bulk(channel), new RespReply.Bulk(message)));
            for (RespSubscriber s : subs) if (s.deliver(key, false, frame)) receivers++;
        }
        if (!patterns.isEmpty()) {
            for (Map.Entry<ByteBuffer, Pattern> e : patterns.entrySet()) {
                Pattern p = e.getValue();
                if (!p.glob().matches(channel)) continue;
                RespReply frame = new RespReply.Push(List.of(
                        PMESSAGE,
                        new RespReply.Bulk(p.name()),
                        new RespReply.Bulk(channel),
                        new RespReply.Bulk(message)));
                for (RespSubscriber s : p.subscribers()) if (s.deliver(e.getKey(), true, frame)) receivers++;
            }
        }
        return receivers;
    }

    /** True when nobody is subscribed to anything: publishing would reach no one. */
    boolean isEmpty() {
        return channels.isEmpty() && patterns.isEmpty();
    }

    /** PUBSUB CHANNELS: the channels with at least one subscriber, optionally only those matching a glob. */
    List<byte[]> channels(RespGlob filter) {
        List<byte[]> out = new ArrayList<>();
        for (ByteBuffer k : channels.keySet()) {
            byte[] name = bytes(k);
            if (filter == null || filter.matches(name)) out.add(name);
        }
        return out;
    }

    /** PUBSUB NUMSUB: subscribers of one channel (patterns not counted, as in Redis). */
    int subscribers(byte[] channel) {
        Set<RespSubscriber> subs = channels.get(ByteBuffer.wrap(channel));
        return subs == null ? 0 : subs.size();
    }

    int channelCount() {
        return channels.size();
    }

    /** PUBSUB NUMPAT: distinct patterns subscribed to by any connection. */
    int patternCount() {
        return patterns.size();
    }

    private static byte[] bytes(ByteBuffer k) {
        return k.array();
    }
}
