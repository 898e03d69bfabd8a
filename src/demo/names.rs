//! The names the synthetic population is drawn from, and how often each is borne.
//!
//! Linkage is only as hard as the namesakes are many, so the demo population needs a
//! national register's spread of names, not a short list: with 35 given names and 32
//! surnames, 1M people held about 900 of every full name, and a slipped repeat was
//! indistinguishable from its namesakes. Kosovo's civil register is not public, so
//! the shape is assumed, not measured: a few clan surnames borne by one to two per
//! cent each, a long tail of patronymic surnames (`Hasan` gives `Hasani` and
//! `Hasanaj`), and given names spread the same way. Each list is ranked, commonest
//! first, and rank `r` (from 0) is drawn with weight `1 / (r + OFFSET)`.

use std::sync::LazyLock;

use rand::Rng;
use rand::distributions::{Distribution, WeightedIndex};

/// Flattens the head of the ranked lists (a plain `1 / r` would give the commonest
/// name a sixth of the population).
const OFFSET: f64 = 15.0;

const ALBANIAN_MEN: &[&str] = &[
    "Arben",
    "Besnik",
    "Blerim",
    "Driton",
    "Valon",
    "Ilir",
    "Artan",
    "Agron",
    "Fatmir",
    "Bekim",
    "Burim",
    "Dardan",
    "Arton",
    "Granit",
    "Fisnik",
    "Kushtrim",
    "Labinot",
    "Liridon",
    "Lulzim",
    "Mentor",
    "Visar",
    "Jeton",
    "Gëzim",
    "Florim",
    "Naim",
    "Shpëtim",
    "Xhevdet",
    "Ermal",
    "Ardian",
    "Përparim",
    "Qëndrim",
    "Shkëlzen",
    "Alban",
    "Egzon",
    "Leotrim",
    "Arianit",
    "Gent",
    "Albert",
    "Astrit",
    "Bujar",
    "Dritan",
    "Enver",
    "Fadil",
    "Fatos",
    "Flamur",
    "Genc",
    "Hekuran",
    "Ismet",
    "Jetmir",
    "Kreshnik",
    "Lavdim",
    "Lirim",
    "Mërgim",
    "Nexhat",
    "Petrit",
    "Rinor",
    "Rron",
    "Sabri",
    "Shkodran",
    "Taulant",
    "Urim",
    "Valmir",
    "Vigan",
    "Xhemajl",
    "Ylber",
    "Yll",
    "Adnan",
    "Afrim",
    "Agim",
    "Armend",
    "Arlind",
    "Behar",
    "Besart",
    "Blendi",
    "Bledar",
    "Diamant",
    "Donat",
    "Edon",
    "Endrit",
    "Erion",
    "Eron",
    "Fitim",
    "Flakron",
    "Gazmend",
    "Gramos",
    "Ilirjan",
    "Kastriot",
    "Korab",
    "Lorik",
    "Luan",
    "Milaim",
    "Mirlind",
    "Muhamet",
    "Nazim",
    "Nderim",
    "Orges",
    "Pajtim",
    "Rilind",
    "Sami",
    "Shefqet",
    "Skënder",
    "Sokol",
    "Trim",
    "Uran",
    "Valdet",
    "Vehbi",
    "Veton",
    "Xhavit",
    "Zef",
    "Ardit",
    "Besim",
    "Bashkim",
    "Drilon",
    "Erblin",
    "Fidan",
    "Gëzon",
    "Isa",
    "Kujtim",
    "Mirsad",
    "Avni",
    "Bardhyl",
    "Dukagjin",
    "Elmi",
    "Fehmi",
    "Hamdi",
    "Ilaz",
    "Jusuf",
    "Lutfi",
    "Nuhi",
    "Qamil",
    "Rrustem",
    "Sefedin",
    "Vllaznim",
];

/// Traditional men's names: given names of the older generation, and the stems of
/// the patronymic surnames.
const ALBANIAN_ELDERS: &[&str] = &[
    "Adem", "Ahmet", "Ajet", "Alush", "Asllan", "Avdyl", "Azem", "Bajram", "Beqir", "Brahim",
    "Demir", "Destan", "Elez", "Emin", "Fejz", "Feriz", "Hajdar", "Hakif", "Halil", "Hamit",
    "Hasan", "Hysen", "Ibrahim", "Idriz", "Imer", "Isuf", "Jakup", "Jonuz", "Kadir", "Kamer",
    "Latif", "Mehmet", "Murat", "Nezir", "Osman", "Qazim", "Qerim", "Ramadan", "Rexhep", "Rrahim",
    "Rustem", "Sadik", "Salih", "Selim", "Shaban", "Shaqir", "Sherif", "Sylejman", "Tahir", "Ymer",
    "Zenel", "Zeqir", "Behram", "Bislim", "Fazli", "Haxhi", "Islam", "Jashar", "Kadri", "Mustaf",
    "Nazif", "Rifat", "Sahit", "Tafil", "Xheladin", "Zymber",
];

const ALBANIAN_WOMEN: &[&str] = &[
    "Arta",
    "Blerta",
    "Drita",
    "Donika",
    "Fjolla",
    "Lindita",
    "Mimoza",
    "Qëndresa",
    "Vjosa",
    "Zana",
    "Teuta",
    "Shqipe",
    "Besa",
    "Erëza",
    "Albulena",
    "Rrezarta",
    "Ardita",
    "Arbenita",
    "Arjeta",
    "Afërdita",
    "Agnesa",
    "Alketa",
    "Antigona",
    "Ariana",
    "Besarta",
    "Besjana",
    "Blerina",
    "Blerona",
    "Dafina",
    "Diellza",
    "Dorina",
    "Edona",
    "Elira",
    "Elona",
    "Erza",
    "Fatime",
    "Fitore",
    "Flaka",
    "Florentina",
    "Gentiana",
    "Gresa",
    "Hana",
    "Jehona",
    "Kaltrina",
    "Kimete",
    "Leonora",
    "Liridona",
    "Lirije",
    "Luljeta",
    "Majlinda",
    "Merita",
    "Mirjeta",
    "Nora",
    "Njomza",
    "Shpresa",
    "Shkurte",
    "Valbona",
    "Valentina",
    "Vlora",
    "Xhevahire",
    "Yllka",
    "Zyrafete",
    "Hatixhe",
    "Remzije",
    "Sabrije",
    "Hajrije",
    "Burbuqe",
    "Dhurata",
    "Egzona",
    "Elvira",
    "Fatmire",
    "Ganimete",
    "Hyrije",
    "Ilirjana",
    "Jeta",
    "Kujtime",
    "Lumnije",
    "Mirlinda",
    "Nazife",
    "Pranvera",
    "Rina",
    "Saranda",
    "Sevdije",
    "Trëndelina",
    "Venera",
    "Violeta",
    "Vjollca",
    "Zarife",
    "Zoja",
    "Lule",
    "Era",
    "Rita",
    "Linda",
    "Ema",
    "Lea",
    "Dea",
    "Ajla",
    "Bukurije",
    "Drenusha",
    "Emine",
    "Flutura",
    "Hava",
    "Igballe",
    "Mejreme",
    "Nexhmije",
];

/// Clan and other common surnames, before the patronymic ones.
const ALBANIAN_CLANS: &[&str] = &[
    "Krasniqi",
    "Gashi",
    "Berisha",
    "Morina",
    "Shala",
    "Bytyqi",
    "Hoxha",
    "Kelmendi",
    "Thaçi",
    "Kastrati",
    "Gërguri",
    "Çitaku",
    "Kryeziu",
    "Sopi",
    "Llapashtica",
    "Dobruna",
    "Hoti",
    "Shkodra",
    "Kuqi",
    "Rugova",
    "Dema",
    "Bajraktari",
    "Bunjaku",
    "Kabashi",
    "Sejdiu",
    "Dibrani",
    "Haliti",
    "Lushtaku",
    "Kurti",
    "Limani",
    "Gjonbalaj",
    "Ukaj",
    "Mazreku",
    "Kuçi",
    "Hysa",
    "Zeka",
    "Maloku",
    "Pllana",
    "Vitia",
    "Qorri",
    "Pula",
    "Deva",
    "Gjinolli",
    "Luma",
    "Rama",
    "Elshani",
    "Mustafa",
    "Musliu",
    "Salihu",
    "Avdiu",
    "Fejzullahu",
    "Gjergji",
    "Gjoka",
    "Prenku",
    "Marku",
    "Palokaj",
    "Nikçi",
    "Cana",
    "Gjocaj",
    "Lajçi",
    "Mala",
    "Shatri",
    "Shllaku",
    "Berbatovci",
    "Lladrovci",
    "Ibishi",
    "Kadriu",
    "Emini",
    "Fazliu",
    "Idrizi",
    "Jakupi",
    "Beka",
    "Bllaca",
    "Dauti",
    "Gecaj",
    "Hajrullahu",
    "Kajtazi",
    "Kollçaku",
    "Loxha",
    "Mehmetaj",
    "Nuredini",
    "Pacarada",
    "Rrustemi",
    "Shabani",
    "Tërnava",
    "Uka",
    "Veseli",
    "Zhubi",
];

const SERBIAN_MEN: &[&str] = &[
    "Aleksandar",
    "Dragan",
    "Dejan",
    "Miloš",
    "Nikola",
    "Marko",
    "Stefan",
    "Nenad",
    "Zoran",
    "Goran",
    "Srđan",
    "Vladimir",
    "Đorđe",
    "Bojan",
    "Ljubomir",
    "Dušan",
    "Milan",
    "Milorad",
    "Miodrag",
    "Slobodan",
    "Predrag",
    "Radomir",
    "Saša",
    "Ivan",
    "Jovan",
    "Lazar",
    "Luka",
    "Filip",
    "Uroš",
    "Nemanja",
    "Vuk",
    "Branko",
    "Dragoljub",
    "Živojin",
    "Momčilo",
    "Novica",
    "Petar",
    "Radoslav",
    "Slaviša",
    "Tomislav",
    "Vojislav",
    "Zlatko",
    "Bogdan",
    "Danilo",
    "Mihajlo",
    "Ognjen",
    "Strahinja",
    "Veljko",
    "Dimitrije",
    "Aleksa",
];
const SERBIAN_WOMEN: &[&str] = &[
    "Jelena", "Milica", "Ivana", "Snežana", "Dragana", "Marija", "Ljiljana", "Tanja", "Ana",
    "Jovana", "Katarina", "Nataša", "Biljana", "Gordana", "Vesna", "Svetlana", "Mirjana",
    "Danijela", "Marina", "Sanja", "Jasmina", "Slađana", "Tijana", "Teodora", "Sofija", "Anđela",
    "Nevena", "Bojana", "Zorica", "Radmila", "Dušica", "Olivera", "Suzana", "Maja", "Nina", "Sara",
    "Kristina",
];
const SERBIAN_SURNAMES: &[&str] = &[
    "Jovanović",
    "Petrović",
    "Nikolić",
    "Marković",
    "Đorđević",
    "Stojanović",
    "Ilić",
    "Stanković",
    "Pavlović",
    "Milošević",
    "Todorović",
    "Živković",
    "Radulović",
    "Mitić",
    "Lazić",
    "Savić",
    "Popović",
    "Kostić",
    "Ristić",
    "Milenković",
    "Đokić",
    "Vasić",
    "Arsić",
    "Stevanović",
    "Perić",
    "Milić",
    "Simić",
    "Marinković",
    "Tomić",
    "Kovačević",
    "Krstić",
    "Lukić",
    "Obradović",
    "Filipović",
    "Jović",
    "Cvetković",
    "Dimitrijević",
    "Vuković",
    "Ivanović",
    "Mladenović",
    "Bogdanović",
    "Milovanović",
    "Antić",
    "Radović",
    "Petković",
    "Janković",
    "Trajković",
    "Aleksić",
    "Mitrović",
    "Zdravković",
    "Spasić",
    "Veličković",
    "Nedeljković",
    "Stojković",
    "Denić",
    "Grujić",
    "Bošković",
    "Rakić",
    "Vučković",
    "Ignjatović",
    "Lazarević",
    "Milojević",
    "Maksimović",
    "Jevtić",
    "Stefanović",
    "Ćirić",
    "Dragović",
];

/// One ranked list of names and the distribution its ranks are drawn from.
pub struct Ranked {
    names: Vec<String>,
    weights: WeightedIndex<f64>,
}

impl Ranked {
    fn new(ranked: impl IntoIterator<Item = String>) -> Self {
        let mut names: Vec<String> = Vec::new();
        for name in ranked {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let weights = WeightedIndex::new((0..names.len()).map(|r| 1.0 / (r as f64 + OFFSET)))
            .expect("every list holds names and the weights are positive");
        Self { names, weights }
    }

    /// One name, drawn by its frequency.
    pub fn draw(&self, rng: &mut impl Rng) -> &str {
        &self.names[self.weights.sample(rng)]
    }

    /// Each name's share of the people drawn from this list, commonest first.
    pub fn shares(&self) -> Vec<(&str, f64)> {
        let total: f64 = (0..self.names.len())
            .map(|r| 1.0 / (r as f64 + OFFSET))
            .sum();
        self.names
            .iter()
            .enumerate()
            .map(|(r, n)| (n.as_str(), 1.0 / (r as f64 + OFFSET) / total))
            .collect()
    }
}

fn owned(list: &[&str]) -> impl Iterator<Item = String> {
    list.iter().map(|s| (*s).to_owned())
}

/// Albanian men's given names: the modern ones, then the traditional.
pub static ALBANIAN_MEN_NAMES: LazyLock<Ranked> =
    LazyLock::new(|| Ranked::new(owned(ALBANIAN_MEN).chain(owned(ALBANIAN_ELDERS))));
/// Albanian women's given names.
pub static ALBANIAN_WOMEN_NAMES: LazyLock<Ranked> =
    LazyLock::new(|| Ranked::new(owned(ALBANIAN_WOMEN)));
/// Albanian surnames: the clans, then the patronymics in `-i` (`-u` after an
/// `i`: Fazli gives Fazliu), then in `-aj`.
pub static ALBANIAN_SURNAME_NAMES: LazyLock<Ranked> = LazyLock::new(|| {
    let patronymic = |s: &&str| match s.ends_with('i') {
        true => format!("{s}u"),
        false => format!("{s}i"),
    };
    Ranked::new(
        owned(ALBANIAN_CLANS)
            .chain(ALBANIAN_ELDERS.iter().map(patronymic))
            .chain(
                ALBANIAN_ELDERS
                    .iter()
                    .filter(|s| !s.ends_with('i'))
                    .map(|s| format!("{s}aj")),
            ),
    )
});
/// Serbian men's given names.
pub static SERBIAN_MEN_NAMES: LazyLock<Ranked> = LazyLock::new(|| Ranked::new(owned(SERBIAN_MEN)));
/// Serbian women's given names.
pub static SERBIAN_WOMEN_NAMES: LazyLock<Ranked> =
    LazyLock::new(|| Ranked::new(owned(SERBIAN_WOMEN)));
/// Serbian surnames.
pub static SERBIAN_SURNAME_NAMES: LazyLock<Ranked> =
    LazyLock::new(|| Ranked::new(owned(SERBIAN_SURNAMES)));

/// Every list, for tests over all names.
pub fn all() -> [&'static Ranked; 6] {
    [
        &ALBANIAN_MEN_NAMES,
        &ALBANIAN_WOMEN_NAMES,
        &ALBANIAN_SURNAME_NAMES,
        &SERBIAN_MEN_NAMES,
        &SERBIAN_WOMEN_NAMES,
        &SERBIAN_SURNAME_NAMES,
    ]
}

/// The Serbian lists (their names have a Cyrillic spelling).
pub fn serbian() -> [&'static Ranked; 3] {
    [
        &SERBIAN_MEN_NAMES,
        &SERBIAN_WOMEN_NAMES,
        &SERBIAN_SURNAME_NAMES,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chance that two people drawn from a list share the name.
    fn coincidence(list: &Ranked) -> f64 {
        list.shares().iter().map(|(_, p)| p * p).sum()
    }

    #[test]
    fn names_are_spread_like_a_national_register() {
        let surnames = ALBANIAN_SURNAME_NAMES.shares();
        assert!(surnames.len() > 200, "{}", surnames.len());
        let commonest = surnames[0].1;
        assert!((0.01..0.03).contains(&commonest), "{commonest}");
        // Two Albanian men share given name and surname about once in 13,000 pairs.
        let full = coincidence(&ALBANIAN_MEN_NAMES) * coincidence(&ALBANIAN_SURNAME_NAMES);
        assert!((1e-5..1e-4).contains(&full), "{full}");
    }

    #[test]
    fn every_name_is_a_written_name() {
        for list in all() {
            for (name, _) in list.shares() {
                assert!(
                    name.chars().count() >= 2 && name.chars().all(char::is_alphabetic),
                    "{name}"
                );
            }
        }
    }
}
