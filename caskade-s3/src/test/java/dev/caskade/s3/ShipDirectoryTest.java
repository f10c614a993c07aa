package dev.caskade.s3;

/** Shipping and restoring through a directory destination. */
class ShipDirectoryTest extends ShippingContract {
    private int n;

    @Override
    ObjectStore destination() {
        return new GuardedStore(DirectoryStore.open(tmp.resolve("dest" + n++)), BreakerOptions.defaults());
    }
}
