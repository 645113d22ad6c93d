from billing.invoice import payment_terms


def test_enterprise_customers_get_sixty_days():
    assert payment_terms("enterprise") == 60
