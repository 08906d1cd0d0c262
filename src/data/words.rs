//! English text as words, for word embeddings: the word2vec corpus (news,
//! the King James Bible, Shakespeare's plays, fortunes), a vocabulary by
//! frequency, and the two standard evaluations (WordSim-353 similarity
//! judgements and the Google analogy questions).

use std::collections::HashMap;
use std::path::Path;

use crate::data::source::{data_error, file_name, read_text};
use crate::error::Error;

/// The corpus files under the data root, and how each holds its text.
const CORPUS: [(&str, Layout); 4] = [
    ("text/lee_background.cor", Layout::Plain),
    ("seq2seq/kjv_rv1909_en_es.tsv.gz", Layout::FirstColumn),
    ("text/shakespeare_plays.txt.gz", Layout::Plain),
    ("text/fortunes_en.txt.gz", Layout::Plain),
];

#[derive(Clone, Copy)]
enum Layout {
    Plain,
    /// Tab-separated pairs: the English side is the first column.
    FirstColumn,
}

/// `text` lowercased and split into words of letters and digits (anything
/// else separates words), one list per line.
pub fn tokenize(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            line.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// The corpus's lines as words, file by file in the order of `CORPUS`.
pub fn word2vec_corpus(root: &Path) -> Result<Vec<Vec<String>>, Error> {
    let mut lines = Vec::new();
    for (name, layout) in CORPUS {
        let text = read_text(&root.join(name))?;
        let text = match layout {
            Layout::Plain => text,
            Layout::FirstColumn => text
                .lines()
                .map(|l| l.split('\t').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        lines.extend(tokenize(&text));
    }
    Ok(lines)
}

/// Words seen at least `min_count` times, most frequent first (ties by
/// spelling, so the ids do not depend on hashing).
pub struct WordVocab {
    pub words: Vec<String>,
    pub counts: Vec<u64>,
    ids: HashMap<String, u32>,
}

impl WordVocab {
    pub fn build(lines: &[Vec<String>], min_count: u64) -> WordVocab {
        let mut freq: HashMap<&str, u64> = HashMap::new();
        for w in lines.iter().flatten() {
            *freq.entry(w.as_str()).or_default() += 1;
        }
        let mut kept: Vec<(&str, u64)> =
            freq.into_iter().filter(|&(_, c)| c >= min_count).collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let words: Vec<String> = kept.iter().map(|(w, _)| w.to_string()).collect();
        let ids = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        WordVocab {
            counts: kept.iter().map(|&(_, c)| c).collect(),
            words,
            ids,
        }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn id(&self, word: &str) -> Option<u32> {
        self.ids.get(word).copied()
    }

    /// Each line as ids, words outside the vocabulary dropped.
    pub fn encode(&self, lines: &[Vec<String>]) -> Vec<Vec<u32>> {
        lines
            .iter()
            .map(|l| l.iter().filter_map(|w| self.id(w)).collect::<Vec<_>>())
            .filter(|l| l.len() >= 2)
            .collect()
    }
}

/// A pair of words and its human similarity score.
#[derive(Clone, Debug)]
pub struct WordPair {
    pub a: String,
    pub b: String,
    pub score: f64,
}

/// WordSim-353 (`text/wordsim353.tsv`): word, word, mean human score; lines
/// starting with `#` are comments.
pub fn wordsim353(root: &Path) -> Result<Vec<WordPair>, Error> {
    let path = root.join("text/wordsim353.tsv");
    let file = file_name(&path);
    let mut pairs = Vec::new();
    for (n, line) in read_text(&path)?.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let score = f.get(2).and_then(|s| s.trim().parse::<f64>().ok());
        let (Some(score), true) = (score, f.len() == 3) else {
            return Err(data_error(
                &file,
                format!("line {}", n + 1),
                "expected word<TAB>word<TAB>score",
            ));
        };
        pairs.push(WordPair {
            a: f[0].to_lowercase(),
            b: f[1].to_lowercase(),
            score,
        });
    }
    if pairs.len() != 353 {
        return Err(data_error(
            &file,
            "end of file",
            format!("{} pairs; WordSim-353 has 353", pairs.len()),
        ));
    }
    Ok(pairs)
}

/// One analogy question a : b :: c : d, in its section (`capital-common-countries`).
#[derive(Clone, Debug)]
pub struct Analogy {
    pub section: String,
    pub words: [String; 4],
}

/// The Google analogy questions (`text/questions-words.txt`), lowercased.
pub fn analogy_questions(root: &Path) -> Result<Vec<Analogy>, Error> {
    let path = root.join("text/questions-words.txt");
    let file = file_name(&path);
    let mut out = Vec::new();
    let mut section = String::new();
    for (n, line) in read_text(&path)?.lines().enumerate() {
        if let Some(s) = line.strip_prefix(':') {
            section = s.trim().to_string();
            continue;
        }
        let w: Vec<String> = line.split_whitespace().map(str::to_lowercase).collect();
        let Ok(words) = <[String; 4]>::try_from(w) else {
            return Err(data_error(
                &file,
                format!("line {}", n + 1),
                "expected four words",
            ));
        };
        out.push(Analogy {
            section: section.clone(),
            words,
        });
    }
    if out.len() != 19_544 {
        return Err(data_error(
            &file,
            "end of file",
            format!("{} questions; the set has 19,544", out.len()),
        ));
    }
    Ok(out)
}
