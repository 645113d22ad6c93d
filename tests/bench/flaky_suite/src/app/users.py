USERS: dict[str, str] = {}


def register(name: str, email: str) -> None:
    USERS[name] = email


def email_of(name: str) -> str:
    return USERS[name]
