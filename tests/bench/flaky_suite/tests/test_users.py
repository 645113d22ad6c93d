from app.users import email_of, register


def test_register_a_user():
    register("ann", "ann@example.org")
    assert email_of("ann") == "ann@example.org"


def test_email_of_a_registered_user():
    assert email_of("ann") == "ann@example.org"
