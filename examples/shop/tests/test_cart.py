from shop.cart import MAX_QUANTITY_PER_LINE


def test_adding_the_same_product_twice_merges_the_lines(cart, catalog):
    mug = catalog.get("MUG-01")
    cart.add(mug)
    cart.add(mug, quantity=2)
    assert [(line.sku, line.quantity) for line in cart.lines] == [("MUG-01", 3)]


def test_add_to_cart(cart, catalog):
    cart.add(catalog.get("KETTLE-02"))
    cart.add(catalog.get("SEED-10"), quantity=12)


def test_quantity_is_capped_per_line(cart, catalog):
    cart.add(catalog.get("SEED-10"), quantity=250)
    assert cart.item_count == MAX_QUANTITY_PER_LINE


def test_setting_quantity_to_zero_removes_the_line(cart, catalog):
    cart.add(catalog.get("MUG-01"))
    cart.set_quantity("MUG-01", 0)
    assert cart.is_empty


def test_coupon_codes_are_normalised_and_deduplicated(cart):
    cart.apply_coupon(" welcome5 ")
    cart.apply_coupon("WELCOME5")
    assert cart.coupon_codes == ["WELCOME5"]


def test_subtotal_is_the_sum_of_the_lines(cart, catalog):
    cart.add(catalog.get("MUG-01"), quantity=2)
    cart.add(catalog.get("SEED-10"))
    assert cart.subtotal_cents == 2 * 1200 + 350
