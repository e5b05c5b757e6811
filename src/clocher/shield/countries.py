"""French names of the countries attacks most often come from (ISO 3166 alpha-2).

Reports print the name when known and the code otherwise; nothing is guessed.
"""

from __future__ import annotations

NAMES = {
    "AE": "Émirats arabes unis",
    "AR": "Argentine",
    "AT": "Autriche",
    "AU": "Australie",
    "BD": "Bangladesh",
    "BE": "Belgique",
    "BG": "Bulgarie",
    "BR": "Brésil",
    "BY": "Biélorussie",
    "CA": "Canada",
    "CH": "Suisse",
    "CL": "Chili",
    "CN": "Chine",
    "CO": "Colombie",
    "CZ": "Tchéquie",
    "DE": "Allemagne",
    "DK": "Danemark",
    "DZ": "Algérie",
    "EG": "Égypte",
    "ES": "Espagne",
    "FI": "Finlande",
    "FR": "France",
    "GB": "Royaume-Uni",
    "GR": "Grèce",
    "HK": "Hong Kong",
    "HU": "Hongrie",
    "ID": "Indonésie",
    "IE": "Irlande",
    "IL": "Israël",
    "IN": "Inde",
    "IR": "Iran",
    "IT": "Italie",
    "JP": "Japon",
    "KP": "Corée du Nord",
    "KR": "Corée du Sud",
    "KZ": "Kazakhstan",
    "LT": "Lituanie",
    "LU": "Luxembourg",
    "MA": "Maroc",
    "MX": "Mexique",
    "MY": "Malaisie",
    "NG": "Nigeria",
    "NL": "Pays-Bas",
    "NO": "Norvège",
    "PH": "Philippines",
    "PK": "Pakistan",
    "PL": "Pologne",
    "PT": "Portugal",
    "RO": "Roumanie",
    "RS": "Serbie",
    "RU": "Russie",
    "SA": "Arabie saoudite",
    "SC": "Seychelles",
    "SE": "Suède",
    "SG": "Singapour",
    "TH": "Thaïlande",
    "TN": "Tunisie",
    "TR": "Turquie",
    "TW": "Taïwan",
    "UA": "Ukraine",
    "US": "États-Unis",
    "VN": "Viêt Nam",
    "ZA": "Afrique du Sud",
}


def name(code: str) -> str:
    if not code:
        return "origine inconnue"
    return NAMES.get(code.upper(), code.upper())
