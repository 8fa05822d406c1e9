"""Text helpers, imported by hello.py as a sibling module (``from .greeting import greet``)."""


def greet(text: str) -> str:
    """Puts "Hello World: " before every line of ``text``."""
    lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    return "".join(f"Hello World: {line}\n" for line in lines)
