"""Countries offered in the survey's birth/residence questions, with PRISM's location fields.

PRISM's participants chose from a "standardised dropdown country list" (75 birth countries in the released
data) and ``location_*_region`` / ``location_*_subregion`` were mapped from the United Nations M49 geoscheme
(region = continent, subregion = M49 sub-region: e.g. "Sub-Saharan Africa", "Latin America and the
Caribbean"). :data:`COUNTRIES` lists every UN member and observer state plus the territories people commonly
name as their country (Hong Kong, Macao, Taiwan, Puerto Rico, Kosovo, ...), as
``(name, ISO 3166-1 alpha-3, region, subregion)``. Names follow the short forms PRISM used ("United States",
"United Kingdom", "Russia", "South Korea", "Czech Republic", ...). Kosovo has no ISO code; ``XKX`` is the
user-assigned code used by the EU and the IMF.

Example
-------
>>> by_name = {c[0]: c for c in COUNTRIES}
>>> by_name["Jamaica"], by_name["Kazakhstan"][3]
(('Jamaica', 'JAM', 'Americas', 'Latin America and the Caribbean'), 'Central Asia')
>>> len({c[1] for c in COUNTRIES}) == len(COUNTRIES) > 200
True
"""

from __future__ import annotations

import unicodedata

_A, _AM, _AS, _E, _O = "Africa", "Americas", "Asia", "Europe", "Oceania"

_BY_SUBREGION: tuple[tuple[str, str, str], ...] = (
    (
        _A,
        "Northern Africa",
        "Algeria DZA; Egypt EGY; Libya LBY; Morocco MAR; Sudan SDN; Tunisia TUN; Western Sahara ESH",
    ),
    (
        _A,
        "Sub-Saharan Africa",
        "Angola AGO; Benin BEN; Botswana BWA; Burkina Faso BFA; Burundi BDI; Cabo Verde CPV; Cameroon CMR; "
        "Central African Republic CAF; Chad TCD; Comoros COM; Congo COG; Côte d'Ivoire CIV; Democratic "
        "Republic of the Congo COD; Djibouti DJI; Equatorial Guinea GNQ; Eritrea ERI; Eswatini SWZ; Ethiopia "
        "ETH; Gabon GAB; Gambia GMB; Ghana GHA; Guinea GIN; Guinea-Bissau GNB; Kenya KEN; Lesotho LSO; "
        "Liberia LBR; Madagascar MDG; Malawi MWI; Mali MLI; Mauritania MRT; Mauritius MUS; Mayotte MYT; "
        "Mozambique MOZ; Namibia NAM; Niger NER; Nigeria NGA; Rwanda RWA; Réunion REU; Sao Tome and Principe "
        "STP; Senegal SEN; Seychelles SYC; Sierra Leone SLE; Somalia SOM; South Africa ZAF; South Sudan SSD; "
        "Tanzania TZA; Togo TGO; Uganda UGA; Zambia ZMB; Zimbabwe ZWE",
    ),
    (
        _AM,
        "Latin America and the Caribbean",
        "Antigua and Barbuda ATG; Argentina ARG; Aruba ABW; Bahamas BHS; Barbados BRB; Belize BLZ; Bolivia "
        "BOL; Brazil BRA; British Virgin Islands VGB; Cayman Islands CYM; Chile CHL; Colombia COL; Costa Rica "
        "CRI; Cuba CUB; Curaçao CUW; Dominica DMA; Dominican Republic DOM; Ecuador ECU; El Salvador SLV; "
        "French Guiana GUF; Grenada GRD; Guadeloupe GLP; Guatemala GTM; Guyana GUY; Haiti HTI; Honduras HND; "
        "Jamaica JAM; Martinique MTQ; Mexico MEX; Nicaragua NIC; Panama PAN; Paraguay PRY; Peru PER; Puerto "
        "Rico PRI; Saint Kitts and Nevis KNA; Saint Lucia LCA; Saint Vincent and the Grenadines VCT; Suriname "
        "SUR; Trinidad and Tobago TTO; U.S. Virgin Islands VIR; Uruguay URY; Venezuela VEN",
    ),
    (_AM, "Northern America", "Bermuda BMU; Canada CAN; Greenland GRL; United States USA"),
    (_AS, "Central Asia", "Kazakhstan KAZ; Kyrgyzstan KGZ; Tajikistan TJK; Turkmenistan TKM; Uzbekistan UZB"),
    (
        _AS,
        "Eastern Asia",
        "China CHN; Hong Kong HKG; Japan JPN; Macao MAC; Mongolia MNG; North Korea PRK; South Korea KOR; Taiwan TWN",
    ),
    (
        _AS,
        "South-eastern Asia",
        "Brunei BRN; Cambodia KHM; Indonesia IDN; Laos LAO; Malaysia MYS; Myanmar MMR; Philippines PHL; "
        "Singapore SGP; Thailand THA; Timor-Leste TLS; Vietnam VNM",
    ),
    (
        _AS,
        "Southern Asia",
        "Afghanistan AFG; Bangladesh BGD; Bhutan BTN; India IND; Iran IRN; Maldives MDV; Nepal NPL; Pakistan "
        "PAK; Sri Lanka LKA",
    ),
    (
        _AS,
        "Western Asia",
        "Armenia ARM; Azerbaijan AZE; Bahrain BHR; Cyprus CYP; Georgia GEO; Iraq IRQ; Israel ISR; Jordan JOR; "
        "Kuwait KWT; Lebanon LBN; Oman OMN; Palestine PSE; Qatar QAT; Saudi Arabia SAU; Syria SYR; Turkey "
        "TUR; United Arab Emirates ARE; Yemen YEM",
    ),
    (
        _E,
        "Eastern Europe",
        "Belarus BLR; Bulgaria BGR; Czech Republic CZE; Hungary HUN; Moldova MDA; Poland POL; Romania ROU; "
        "Russia RUS; Slovakia SVK; Ukraine UKR",
    ),
    (
        _E,
        "Northern Europe",
        "Denmark DNK; Estonia EST; Faroe Islands FRO; Finland FIN; Guernsey GGY; Iceland ISL; Ireland IRL; "
        "Isle of Man IMN; Jersey JEY; Latvia LVA; Lithuania LTU; Norway NOR; Sweden SWE; United Kingdom GBR",
    ),
    (
        _E,
        "Southern Europe",
        "Albania ALB; Andorra AND; Bosnia and Herzegovina BIH; Croatia HRV; Gibraltar GIB; Greece GRC; Italy "
        "ITA; Kosovo XKX; Malta MLT; Montenegro MNE; North Macedonia MKD; Portugal PRT; San Marino SMR; "
        "Serbia SRB; Slovenia SVN; Spain ESP; Vatican City VAT",
    ),
    (
        _E,
        "Western Europe",
        "Austria AUT; Belgium BEL; France FRA; Germany DEU; Liechtenstein LIE; Luxembourg LUX; Monaco MCO; "
        "Netherlands NLD; Switzerland CHE",
    ),
    (_O, "Australia and New Zealand", "Australia AUS; New Zealand NZL"),
    (_O, "Melanesia", "Fiji FJI; New Caledonia NCL; Papua New Guinea PNG; Solomon Islands SLB; Vanuatu VUT"),
    (
        _O,
        "Micronesia",
        "Guam GUM; Kiribati KIR; Marshall Islands MHL; Micronesia (Federated States of) FSM; Nauru NRU; "
        "Northern Mariana Islands MNP; Palau PLW",
    ),
    (_O, "Polynesia", "American Samoa ASM; Cook Islands COK; French Polynesia PYF; Samoa WSM; Tonga TON; Tuvalu TUV"),
)


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def _expand() -> tuple[tuple[str, str, str, str], ...]:
    rows = []
    for region, subregion, names in _BY_SUBREGION:
        for item in names.split("; "):
            name, iso = item.rsplit(" ", 1)
            rows.append((name, iso, region, subregion))
    return tuple(sorted(rows, key=lambda r: _ascii(r[0])))


#: ``(name, ISO3, UN region, UN M49 subregion)`` of every country offered, sorted by name.
COUNTRIES: tuple[tuple[str, str, str, str], ...] = _expand()

__all__ = ["COUNTRIES"]
