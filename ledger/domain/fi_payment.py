"""The FI payment id (betalings-id) printed on an invoice's payment slip, card type +71.

The code line reads `+71< PAYMENT-ID +CREDITOR<`: a 15-digit payment id whose last digit is a
modulus-10 check digit with weights 2, 1, 2, ... from the right (the Luhn rule), and the creditor's
8-digit FI number. The bank hands the payment id back with the money, so a payment quoting it can be
put on the right invoice without a person reading the transfer text.

The id is derived from the invoice number alone (municipality code, then the invoice's sequence
number, zero-padded to 14 digits, then the check digit), so it is "stored on the invoice" without a
new event: every reader (the invoice letter, the billing projection, allocation) computes the same id,
and an invoice number can be recovered from an id. Pure functions, no framework.

A debit note (657-D00001) is owed on its own due date, so it has its own id, derived the same way
from its own number: municipality code, the digit 9 (the debit-note series), its sequence number
zero-padded to 10 digits, then the check digit (657-D00001 -> 657900000000015). Invoice ids are
unchanged: an invoice's 11-digit sequence would have to reach 90,000,000,000 before its id began
with that 9, and `payment_id` refuses such an invoice number rather than make an ambiguous id.
"""

from __future__ import annotations

import re

LENGTH = 15  # card type 71
CARD_TYPE = "71"
_INVOICE = re.compile(r"^(\d{3})-(\d{1,11})$")  # InvoiceSeries.invoice_number: 657-000001
_DEBIT_NOTE = re.compile(r"^(\d{3})-D(\d{1,10})$")  # InvoiceSeries: 657-D00001
_DEBIT_FLAG = "9"  # the 4th digit of a debit note's id; an invoice's is 0 (below 10**10 invoices) .. 8
_INVOICE_LIMIT = 9 * 10**10  # invoice sequences below this keep the 4th digit free of the flag
_CREDITOR = re.compile(r"^8\d{7}$")


def check_digit(digits: str) -> str:
    """The modulus-10 check digit for `digits` (without it): weights 2, 1, 2, ... from the right,
    digit sums of the products, and the digit that brings the total to a multiple of 10."""
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(f"a payment id is made of digits, got {digits!r}")
    total = 0
    for i, ch in enumerate(reversed(digits)):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def is_valid(payment_id: str) -> bool:
    """Whether `payment_id` is 15 digits whose last digit checks."""
    return (isinstance(payment_id, str) and len(payment_id) == LENGTH and payment_id.isascii()
            and payment_id.isdigit() and check_digit(payment_id[:-1]) == payment_id[-1])


def with_check_digit(number: int | str, length: int = LENGTH) -> str:
    """`number` left-padded with zeros to `length - 1` digits, then its check digit (1 -> ...018)."""
    body = str(number).zfill(length - 1)
    if len(body) != length - 1:
        raise ValueError(f"{number} has more than {length - 1} digits")
    return body + check_digit(body)


def payment_id(number: str) -> str:
    """The payment id of an invoice number like 657-000001 ('657' + '00000000001' + check digit), or
    of a debit note number like 657-D00001 ('657' + '9' + '0000000001' + check digit)."""
    m = _INVOICE.match(number)
    if m is not None and int(m.group(2)) < _INVOICE_LIMIT:
        return with_check_digit(m.group(1) + m.group(2).zfill(11))
    d = _DEBIT_NOTE.match(number)
    if d is not None:
        return with_check_digit(d.group(1) + _DEBIT_FLAG + d.group(2).zfill(10))
    raise ValueError(f"{number!r} is not an invoice or debit note number (like 657-000001, 657-D00001)")


def document_number(pid: str) -> str | None:
    """The invoice or debit note number a valid payment id was made from, or None (not a payment id
    of ours)."""
    if not is_valid(pid):
        return None
    body = pid[:-1]  # 14 digits: municipality (3) + sequence (11), or municipality + 9 + sequence (10)
    municipality = body[:3]
    if body[3] == _DEBIT_FLAG:
        sequence = int(body[4:])
        return f"{municipality}-D{sequence:05d}" if sequence else None
    sequence = int(body[3:])
    if sequence == 0:
        return None
    return f"{municipality}-{sequence:06d}"


def document_for_reference(reference: str | None) -> str | None:
    """What a payment's reference names: the document number itself (an invoice or a debit note), or
    the document behind an FI payment id quoted from its slip (with or without the spaces a bank may
    print)."""
    if reference is None:
        return None
    compact = reference.replace(" ", "")
    found = document_number(compact) if len(compact) == LENGTH else None
    return found or reference


def is_creditor(creditor: str) -> bool:
    """An FI creditor number (kreditornummer): 8 digits, the first an 8 (conventions l.22)."""
    return bool(_CREDITOR.match(creditor))


def code_line(number: str, creditor: str) -> str:
    """The slip's machine line of an invoice or debit note: `+71< 657000000000014 +81234567<`."""
    if not _CREDITOR.match(creditor):
        raise ValueError(f"an FI creditor number is 8 digits starting with 8, got {creditor!r}")
    return f"+{CARD_TYPE}< {payment_id(number)} +{creditor}<"
