package dev.caskade.s3;

import java.io.InputStream;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * An {@link ObjectStore} that passes every call to another one: the base for a decorator that changes or watches
 * a few calls (timing uploads, announcing them, injecting faults) and overrides only those.
 */
public abstract class ForwardingStore implements ObjectStore {
    protected final ObjectStore inner;

    protected ForwardingStore(ObjectStore inner) {
        this.inner = Objects.requireNonNull(inner, "inner");
    }

    @Override
    public void put(String name, byte[] data) {
        inner.put(name, data);
    }

    @Override
    public void put(String name, Path file) {
        inner.put(name, file);
    }

    @Override
    public Optional<byte[]> get(String name) {
        return inner.get(name);
    }

    @Override
    public InputStream open(String name) {
        return inner.open(name);
    }

    @Override
    public byte[] read(String name, long offset, int length) {
        return inner.read(name, offset, length);
    }

    @Override
    public List<ObjectInfo> list(String prefix) {
        return inner.list(prefix);
    }

    @Override
    public Optional<ObjectInfo> stat(String name) {
        return inner.stat(name);
    }

    @Override
    public void delete(Collection<String> names) {
        inner.delete(names);
    }

    @Override
    public Optional<Versioned> getVersioned(String name) {
        return inner.getVersioned(name);
    }

    @Override
    public boolean putIfAbsent(String name, byte[] data) {
        return inner.putIfAbsent(name, data);
    }

    @Override
    public boolean putIfMatch(String name, byte[] data, String etag) {
        return inner.putIfMatch(name, data, etag);
    }

    @Override
    public boolean conditionalWrites() {
        return inner.conditionalWrites();
    }

    @Override
    public String url() {
        return inner.url();
    }

    @Override
    public void close() {
        inner.close();
    }
}
