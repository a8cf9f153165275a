"""Denmark's 98 municipalities: official three-digit code, name, and population (approximate,
2021, thousands; used only to size generated data in proportion)."""

from __future__ import annotations

from ledger.domain.errors import InvalidInput

MUNICIPALITIES: dict[int, tuple[str, int]] = {
    101: ("København", 638), 147: ("Frederiksberg", 104), 151: ("Ballerup", 49), 153: ("Brøndby", 35),
    155: ("Dragør", 14), 157: ("Gentofte", 75), 159: ("Gladsaxe", 69), 161: ("Glostrup", 23),
    163: ("Herlev", 29), 165: ("Albertslund", 28), 167: ("Hvidovre", 53), 169: ("Høje-Taastrup", 51),
    173: ("Lyngby-Taarbæk", 56), 175: ("Rødovre", 41), 183: ("Ishøj", 23), 185: ("Tårnby", 43),
    187: ("Vallensbæk", 16), 190: ("Furesø", 41), 201: ("Allerød", 26), 210: ("Fredensborg", 41),
    217: ("Helsingør", 63), 219: ("Hillerød", 51), 223: ("Hørsholm", 25), 230: ("Rudersdal", 57),
    240: ("Egedal", 44), 250: ("Frederikssund", 45), 253: ("Greve", 50), 259: ("Køge", 61),
    260: ("Halsnæs", 31), 265: ("Roskilde", 89), 269: ("Solrød", 23), 270: ("Gribskov", 41),
    306: ("Odsherred", 33), 316: ("Holbæk", 72), 320: ("Faxe", 37), 326: ("Kalundborg", 49),
    329: ("Ringsted", 35), 330: ("Slagelse", 79), 336: ("Stevns", 23), 340: ("Sorø", 30),
    350: ("Lejre", 28), 360: ("Lolland", 41), 370: ("Næstved", 83), 376: ("Guldborgsund", 60),
    390: ("Vordingborg", 46), 400: ("Bornholm", 39), 410: ("Middelfart", 39), 420: ("Assens", 41),
    430: ("Faaborg-Midtfyn", 51), 440: ("Kerteminde", 24), 450: ("Nyborg", 32), 461: ("Odense", 205),
    479: ("Svendborg", 59), 480: ("Nordfyns", 29), 482: ("Langeland", 12), 492: ("Ærø", 6),
    510: ("Haderslev", 55), 530: ("Billund", 27), 540: ("Sønderborg", 74), 550: ("Tønder", 37),
    561: ("Esbjerg", 116), 563: ("Fanø", 3), 573: ("Varde", 50), 575: ("Vejen", 43),
    580: ("Aabenraa", 59), 607: ("Fredericia", 52), 615: ("Horsens", 96), 621: ("Kolding", 94),
    630: ("Vejle", 117), 657: ("Herning", 89), 661: ("Holstebro", 59), 665: ("Lemvig", 20),
    671: ("Struer", 21), 706: ("Syddjurs", 43), 707: ("Norddjurs", 37), 710: ("Favrskov", 49),
    727: ("Odder", 23), 730: ("Randers", 98), 740: ("Silkeborg", 95), 741: ("Samsø", 4),
    746: ("Skanderborg", 63), 751: ("Aarhus", 352), 756: ("Ikast-Brande", 41), 760: ("Ringkøbing-Skjern", 56),
    766: ("Hedensted", 47), 773: ("Morsø", 20), 779: ("Skive", 46), 787: ("Thisted", 43),
    791: ("Viborg", 97), 810: ("Brønderslev", 36), 813: ("Frederikshavn", 59), 820: ("Vesthimmerlands", 37),
    825: ("Læsø", 2), 840: ("Rebild", 30), 846: ("Mariagerfjord", 42), 849: ("Jammerbugt", 38),
    851: ("Aalborg", 219), 860: ("Hjørring", 64),
}
assert len(MUNICIPALITIES) == 98

_BY_NAME = {name.casefold(): code for code, (name, _) in MUNICIPALITIES.items()}


def municipality_code(value: object) -> int:
    """An official municipality code from a code (657, "657") or a name ("Herning")."""
    if isinstance(value, bool):
        raise InvalidInput(f"municipality must be a code like 657 or a name like Herning, got {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()):
        code = int(value)
        if code not in MUNICIPALITIES:
            raise InvalidInput(f"{code} is not a Danish municipality code", field="municipality")
        return code
    if isinstance(value, str) and value.strip().casefold() in _BY_NAME:
        return _BY_NAME[value.strip().casefold()]
    raise InvalidInput(f"unknown municipality {value!r}: give the three-digit code (e.g. 657) or the name", field="municipality")


def municipality_name(code: int) -> str:
    return MUNICIPALITIES[code][0]
