//! The data loaders against the real files in `data/`, and the split,
//! standardizer and batch helpers. CPU only.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use shadergrad::Error;
use shadergrad::data::{
    self, BatchTarget, Dataset, Standardizer, Target, auto_mpg, breast_cancer, data_dir, diabetes,
    digits, iris, mnist10k, wine,
};

/// A loader, as the missing-file test iterates over all of them.
type Loader = fn(&Path) -> shadergrad::Result<Dataset>;

/// How many samples carry each class label.
fn class_counts(d: &Dataset) -> Vec<usize> {
    let Target::Classes { labels, classes } = &d.target else {
        panic!("{} is not a classification set", d.name);
    };
    let mut counts = vec![0; *classes];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
}

/// A fresh directory for one test's files, so parallel tests never share one.
fn temp_root(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shadergrad-data-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::create_dir_all(dir.join("tabular")).unwrap();
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The (file, at, msg) of a data error; fails the test on anything else.
fn data_error<T: std::fmt::Debug>(r: Result<T, Error>) -> (String, String, String) {
    match r {
        Err(Error::Data { file, at, msg }) => (file, at, msg),
        other => panic!("expected Error::Data, got {other:?}"),
    }
}

fn check_shape(d: &Dataset, n: usize, features: usize) {
    assert_eq!(d.len(), n, "{}", d.name);
    assert_eq!(d.features(), features, "{}", d.name);
    assert_eq!(d.x.len(), n * features, "{}", d.name);
    assert_eq!(d.feature_names.len(), features, "{}", d.name);
    assert!(d.x.iter().all(|v| v.is_finite()), "{}", d.name);
}

#[test]
fn digits_is_1797_images_of_8x8_in_10_classes() {
    let d = digits(&data_dir()).unwrap();
    check_shape(&d, 1797, 64);
    assert_eq!(d.sample_shape, vec![1, 8, 8]);
    assert!(d.x.iter().all(|&v| (0.0..=16.0).contains(&v)));
    assert_eq!(
        class_counts(&d),
        vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    );
}

#[test]
fn shakespeare_is_the_plays_as_text_with_a_vocabulary_of_its_characters() {
    let text = data::shakespeare(&data_dir()).unwrap();
    assert!(text.starts_with("Theseus:\nNow, fair Hippolyta"));
    let vocab = data::CharVocab::of(&text);
    assert_eq!(vocab.len(), 81);
    let ids = vocab.encode(&text[..2000]).unwrap();
    assert!(ids.iter().all(|&i| (0..81).contains(&i)));
    assert_eq!(vocab.decode(&ids).unwrap(), &text[..2000]);
    // A character or an id outside the vocabulary: typed errors.
    let invalid = |r: Result<(), Error>, op: &str, what: &str| match r {
        Err(Error::InvalidArgument { op: o, msg, .. }) => {
            assert_eq!(o, op);
            assert!(msg.contains(what), "{msg}");
        }
        other => panic!("{op}: expected InvalidArgument, got {other:?}"),
    };
    invalid(
        vocab.encode("Hail, 凯撒").map(|_| ()),
        "vocab encode",
        "'凯' at 6",
    );
    invalid(vocab.decode(&[3, 81]).map(|_| ()), "vocab decode", "81");
    invalid(vocab.decode(&[-1]).map(|_| ()), "vocab decode", "-1");
}

#[test]
fn cmudict_is_one_pronunciation_a_word_without_stress() {
    let words = data::cmudict(&data_dir()).unwrap();
    assert_eq!(words.len(), 126_052);
    let find = |w: &str| {
        words
            .iter()
            .find(|p| p.word == w)
            .unwrap()
            .phonemes
            .join(" ")
    };
    assert_eq!(find("abandon"), "AH B AE N D AH N");
    // The first listed pronunciation; `read(2)` is skipped.
    assert_eq!(find("read"), "R EH D");
    assert!(words.iter().all(|p| !p.word.ends_with(')')));
    // A comment is not a phoneme: "aalborg AO1 L B AO0 R G # place, danish".
    assert_eq!(find("aalborg"), "AO L B AO R G");
    let root = temp_root("cmudict");
    cut(&root, "seq2seq/cmudict.dict.gz", 100);
    let (_, _, msg) = data_error(data::cmudict(&root));
    assert!(msg.contains("100 lines") && msg.contains("135166"), "{msg}");
}

#[test]
fn sentiment_is_the_labelled_reviews_and_tang_the_poems() {
    let reviews = data::sentiment(&data_dir()).unwrap();
    let pos = reviews.iter().filter(|r| r.positive).count();
    assert_eq!((pos, reviews.len() - pos), (16_548, 18_575));
    assert!(reviews[0].text.starts_with("我正在写这本书的心得"));
    assert!(!reviews[pos].positive && reviews[pos].text.starts_with("如果你在外资公司工作过"));
    assert!(reviews.iter().all(|r| !r.text.trim().is_empty()));
    let poems = data::tang_poems(&data_dir()).unwrap();
    assert!(poems.starts_with("《感遇・其一》\n作者：张九龄"));
    let root = temp_root("sentiment");
    cut(&root, "zh/sentiment_pos.txt.gz", 100);
    let (file, _, msg) = data_error(data::sentiment(&root));
    assert!(file.ends_with("sentiment_pos.txt.gz"), "{file}");
    assert!(msg.contains("100 lines") && msg.contains("16548"), "{msg}");
    cut(&root, "zh/tang300_zh.txt", 100);
    let (_, _, msg) = data_error(data::tang_poems(&root));
    assert!(msg.contains("100 lines") && msg.contains("2545"), "{msg}");
    // A control character in a review: named with its file and line.
    let mut lines = vec!["好书".to_string(); 16_548];
    lines[6] = "好\u{7}书".into();
    std::fs::write(
        root.join("zh/sentiment_pos.txt.gz"),
        gzip(lines.join("\n").as_bytes()),
    )
    .unwrap();
    let (_, at, msg) = data_error(data::sentiment(&root));
    assert_eq!(at, "line 7");
    assert!(msg.contains("control character"), "{msg}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn mnist10k_is_10000_images_in_unit_range_with_all_labels() {
    let d = mnist10k(&data_dir()).unwrap();
    check_shape(&d, 10_000, 784);
    assert_eq!(d.sample_shape, vec![1, 28, 28]);
    assert!(d.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // Some pixels are fully on, so the scaling is byte / 255 and not / 256.
    assert!(d.x.contains(&1.0));
    let counts = class_counts(&d);
    assert_eq!(counts.iter().sum::<usize>(), 10_000);
    assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
}

#[test]
fn sklearn_classification_sets_match_their_headers() {
    let root = data_dir();
    let d = iris(&root).unwrap();
    check_shape(&d, 150, 4);
    assert_eq!(class_counts(&d), vec![50, 50, 50]);
    assert_eq!(&d.x[..4], &[5.1, 3.5, 1.4, 0.2]);

    let d = wine(&root).unwrap();
    check_shape(&d, 178, 13);
    assert_eq!(class_counts(&d), vec![59, 71, 48]);

    let d = breast_cancer(&root).unwrap();
    check_shape(&d, 569, 30);
    assert_eq!(class_counts(&d), vec![212, 357]);
    assert_eq!(d.feature_names[0], "mean radius");
    assert_eq!(d.feature_names[29], "worst fractal dimension");
}

#[test]
fn diabetes_is_442_by_10_with_one_target_each() {
    let d = diabetes(&data_dir()).unwrap();
    check_shape(&d, 442, 10);
    assert_eq!(&d.x[..3], &[59.0, 2.0, 32.1]);
    let Target::Values { values, outputs } = &d.target else {
        panic!("diabetes is regression");
    };
    assert_eq!(*outputs, 1);
    assert_eq!(values.len(), 442);
    assert_eq!(&values[..3], &[151.0, 75.0, 141.0]);
    assert!(d.labels().is_none());
}

#[test]
fn auto_is_392_cars_with_mpg_target_and_seven_features() {
    let d = auto_mpg(&data_dir()).unwrap();
    check_shape(&d, 392, 7);
    assert_eq!(
        d.feature_names,
        vec![
            "cylinders",
            "displacement",
            "horsepower",
            "weight",
            "acceleration",
            "year",
            "origin"
        ]
    );
    assert_eq!(&d.x[..7], &[8.0, 307.0, 130.0, 3504.0, 12.0, 70.0, 1.0]);
    let mpg = d.values().unwrap();
    assert_eq!(mpg.len(), 392);
    assert_eq!(mpg[0], 18.0);
}

#[test]
fn data_dir_is_the_crate_data_folder_by_default() {
    if std::env::var_os(data::DATA_ENV).is_none() {
        assert_eq!(
            data_dir(),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
        );
    }
}

#[test]
fn split_is_deterministic_disjoint_and_complete() {
    let d = iris(&data_dir()).unwrap();
    let (train, test) = d.split(0.2, 7).unwrap();
    assert_eq!((train.len(), test.len()), (120, 30));
    let (train2, test2) = d.split(0.2, 7).unwrap();
    assert_eq!(train, train2);
    assert_eq!(test, test2);
    let (_, test3) = d.split(0.2, 8).unwrap();
    assert_ne!(test, test3);

    // Every sample lands in exactly one part: tag each sample by its index
    // through a dataset whose only feature is that index.
    let tagged = Dataset {
        name: "tagged".into(),
        x: (0..d.len()).map(|i| i as f32).collect(),
        sample_shape: vec![1],
        target: d.target.clone(),
        feature_names: vec!["index".into()],
    };
    let (train, test) = tagged.split(0.2, 7).unwrap();
    let mut seen: Vec<usize> = train.x.iter().chain(&test.x).map(|&v| v as usize).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..d.len()).collect::<Vec<_>>());
    // Labels travel with their samples.
    for (v, l) in test.x.iter().zip(test.labels().unwrap()) {
        assert_eq!(*l, d.labels().unwrap()[*v as usize]);
    }
}

#[test]
fn standardizer_is_fitted_on_train_only() {
    let d = wine(&data_dir()).unwrap();
    let (mut train, mut test) = d.split(0.25, 1).unwrap();
    let s = Standardizer::fit(&train);
    assert_ne!(s, Standardizer::fit(&test));
    let test_before = test.x.clone();
    s.apply(&mut train).unwrap();
    s.apply(&mut test).unwrap();
    let f = train.features();
    for j in 0..f {
        let col: Vec<f64> = train
            .x
            .iter()
            .skip(j)
            .step_by(f)
            .map(|&v| v as f64)
            .collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / col.len() as f64;
        assert!(mean.abs() < 1e-4, "feature {j}: mean {mean}");
        assert!(
            (var.sqrt() - 1.0).abs() < 1e-3,
            "feature {j}: std {}",
            var.sqrt()
        );
    }
    // The test split is transformed with the train statistics.
    for (i, (&after, &before)) in test.x.iter().zip(&test_before).enumerate() {
        let expect = (before - s.mean[i % f]) / s.std[i % f];
        assert!((after - expect).abs() < 1e-4);
    }
}

#[test]
fn standardizer_leaves_constant_features_finite() {
    let d = mnist10k(&data_dir()).unwrap();
    let mut d = d.subset(&(0..500).collect::<Vec<_>>()).unwrap();
    let s = Standardizer::fit(&d);
    // The top-left pixel is blank in every image.
    assert_eq!((s.mean[0], s.std[0]), (0.0, 1.0));
    s.apply(&mut d).unwrap();
    assert!(d.x.iter().all(|v| v.is_finite()));
}

#[test]
fn batches_cover_every_sample_once_per_epoch() {
    let d = iris(&data_dir()).unwrap();
    let tagged = Dataset {
        x: (0..d.len()).map(|i| i as f32).collect(),
        sample_shape: vec![1],
        feature_names: vec!["index".into()],
        ..d.clone()
    };
    let order = |seed: Option<u64>| -> Vec<usize> {
        let batches: Vec<_> = tagged.batches(32, seed).unwrap().collect();
        assert_eq!(batches.len(), 5);
        assert_eq!(
            batches.iter().map(|b| b.len).collect::<Vec<_>>(),
            vec![32, 32, 32, 32, 22]
        );
        let mut order = Vec::new();
        for b in &batches {
            let BatchTarget::Classes(y) = &b.y else {
                panic!("iris batches carry classes");
            };
            assert_eq!((b.x.len(), y.len()), (b.len, b.len));
            for (&v, &l) in b.x.iter().zip(y) {
                assert_eq!(l, d.labels().unwrap()[v as usize]);
                order.push(v as usize);
            }
        }
        order
    };
    let plain = order(None);
    assert_eq!(plain, (0..150).collect::<Vec<_>>());
    let a = order(Some(1));
    let b = order(Some(2));
    assert_eq!(a, order(Some(1)));
    assert_ne!(a, b);
    assert_ne!(a, plain);
    for mut o in [a, b] {
        o.sort_unstable();
        assert_eq!(o, plain);
    }
}

#[test]
fn regression_batches_carry_values() {
    let d = diabetes(&data_dir()).unwrap();
    let mut n = 0;
    for b in d.batches(100, Some(3)).unwrap() {
        let BatchTarget::Values(y) = &b.y else {
            panic!("diabetes batches carry values");
        };
        assert_eq!((b.x.len(), y.len()), (b.len * 10, b.len));
        n += b.len;
    }
    assert_eq!(n, 442);
}

#[test]
fn missing_files_are_data_errors_at_open() {
    let root = std::env::temp_dir().join("shadergrad-no-such-data-dir");
    let loaders: [(Loader, &str); 7] = [
        (digits, "digits.csv.gz"),
        (mnist10k, "mnist10k-images-idx3-ubyte.gz"),
        (iris, "iris.csv"),
        (wine, "wine_data.csv"),
        (breast_cancer, "breast_cancer.csv"),
        (diabetes, "diabetes_data_raw.csv.gz"),
        (auto_mpg, "Auto.csv"),
    ];
    for (load, name) in loaders {
        let (file, at, _) = data_error(load(&root));
        assert_eq!(at, "open");
        assert!(file.starts_with(root.to_str().unwrap()), "{file}");
        assert!(file.ends_with(name), "{file}");
    }
}

#[test]
fn wrong_idx_magic_is_reported_at_its_byte() {
    let root = temp_root("idx-magic");
    let images = root.join("images/mnist10k-images-idx3-ubyte.gz");
    // The labels file where the images file belongs: a valid IDX, wrong magic.
    let mut labels_idx = vec![0, 0, 8, 1, 0, 0, 0, 2];
    labels_idx.extend([3, 4]);
    std::fs::write(&images, gzip(&labels_idx)).unwrap();
    let (file, at, msg) = data_error(mnist10k(&root));
    assert_eq!(file, images.display().to_string());
    assert_eq!(at, "byte 0");
    assert!(msg.contains("2049") && msg.contains("2051"), "{msg}");

    // Not IDX at all, read directly without gzip.
    let plain = root.join("not-idx.bin");
    std::fs::write(&plain, b"\x01\x02\x08\x01rest").unwrap();
    let (_, at, _) = data_error(data::read_idx_u8(&plain));
    assert_eq!(at, "byte 0");
    // A float IDX (type code 0x0D).
    let (_, at, _) = data_error(data::parse_idx_u8(&[0, 0, 0x0D, 1, 0, 0, 0, 0], "f32.idx"));
    assert_eq!(at, "byte 2");
    // Data shorter than the dimensions claim.
    let (_, at, _) = data_error(data::parse_idx_u8(
        &[0, 0, 8, 1, 0, 0, 0, 5, 1, 2],
        "short.idx",
    ));
    assert_eq!(at, "byte 10");
    let idx = data::parse_idx_u8(&[0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 0, 2, 7, 9], "ok.idx").unwrap();
    assert_eq!(
        (idx.magic, idx.dims, idx.data),
        (2050, vec![1, 2], vec![7, 9])
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn truncated_gzip_is_a_data_error() {
    let root = temp_root("gzip");
    let path = root.join("images/digits.csv.gz");
    let good = std::fs::read(data_dir().join("images/digits.csv.gz")).unwrap();
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let (file, at, _) = data_error(digits(&root));
    assert_eq!(file, path.display().to_string());
    assert!(at.starts_with("byte "), "{at}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn malformed_csv_rows_are_reported_at_their_line() {
    let root = temp_root("csv");
    let path = root.join("tabular/iris.csv");
    let write = |text: &str| std::fs::write(&path, text).unwrap();

    write("3,4,a,b\n5.1,3.5,1.4,0.2,0\n4.9,abc,1.4,0.2,1\n");
    let (file, at, msg) = data_error(iris(&root));
    assert_eq!(file, path.display().to_string());
    assert_eq!(at, "line 3");
    assert!(msg.contains("abc"), "{msg}");

    write("2,4,a,b\n5.1,3.5,1.4,0.2,0\n4.9,3.0,1.4,0.2\n");
    assert_eq!(data_error(iris(&root)).1, "line 3");

    write("1,4,a,b\n5.1,3.5,1.4,0.2,2\n");
    assert_eq!(data_error(iris(&root)).1, "line 2");

    write("1,4,a,b\n5.1,NaN,1.4,0.2,0\n");
    assert_eq!(data_error(iris(&root)).1, "line 2");

    // The header's sample count disagrees with the rows.
    write("5,4,a,b\n5.1,3.5,1.4,0.2,0\n");
    assert_eq!(data_error(iris(&root)).1, "line 1");

    let auto = root.join("tabular/Auto.csv");
    std::fs::write(
        &auto,
        "mpg,cylinders,horsepower,name\n18.0,8,130,chevrolet\n25.0,4,?,ford pinto\n",
    )
    .unwrap();
    let (_, at, msg) = data_error(auto_mpg(&root));
    assert_eq!(at, "line 3");
    assert!(msg.contains("horsepower") && msg.contains('?'), "{msg}");
    let _ = std::fs::remove_dir_all(&root);
}

/// The first `lines` lines of a data file, written (gzipped when the name
/// says so) where a loader will look under `root`.
fn cut(root: &std::path::Path, rel: &str, lines: usize) {
    let full = std::fs::read(data_dir().join(rel)).unwrap();
    let text = if rel.ends_with(".gz") {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&full[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(full).unwrap()
    };
    let kept: String = text.lines().take(lines).map(|l| format!("{l}\n")).collect();
    let bytes = if rel.ends_with(".gz") {
        gzip(kept.as_bytes())
    } else {
        kept.into_bytes()
    };
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_file_cut_at_a_line_boundary_is_an_error_not_a_smaller_data_set() {
    let root = temp_root("cut");
    // Headerless files: their data sets' sizes are what the format implies.
    cut(&root, "images/digits.csv.gz", 100);
    let (_, _, msg) = data_error(digits(&root));
    assert!(msg.contains("100 samples") && msg.contains("1797"), "{msg}");
    cut(&root, "tabular/diabetes_data_raw.csv.gz", 100);
    cut(&root, "tabular/diabetes_target.csv.gz", 100);
    let (_, _, msg) = data_error(diabetes(&root));
    assert!(msg.contains("100 samples") && msg.contains("442"), "{msg}");
    cut(&root, "tabular/Auto.csv", 51);
    let (_, _, msg) = data_error(auto_mpg(&root));
    assert!(msg.contains("50 cars") && msg.contains("392"), "{msg}");
    cut(&root, "zh/peoples_daily_1998_bmes.txt.gz", 100);
    let (_, _, msg) = data_error(data::peoples_daily(&root));
    assert!(msg.contains("100 lines") && msg.contains("19484"), "{msg}");
    cut(&root, "text/shakespeare_plays.txt.gz", 100);
    let (_, _, msg) = data_error(data::shakespeare(&root));
    assert!(
        msg.contains("characters") && msg.contains("4830841"),
        "{msg}"
    );
    // A file with a header: the header's count is checked (iris says 150).
    cut(&root, "tabular/iris.csv", 101);
    let (_, at, msg) = data_error(iris(&root));
    assert_eq!(at, "line 1");
    assert!(msg.contains("150") && msg.contains("100"), "{msg}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn bad_arguments_to_the_data_helpers_are_typed_errors() {
    let d = iris(&data_dir()).unwrap();
    let invalid = |r: Result<(), Error>, op: &str| match r {
        Err(Error::InvalidArgument { op: o, .. }) => assert_eq!(o, op),
        other => panic!("{op}: expected InvalidArgument, got {other:?}"),
    };
    invalid(d.batches(0, None).map(|_| ()), "batches");
    invalid(d.split(1.5, 0).map(|_| ()), "split");
    invalid(d.split(-0.1, 0).map(|_| ()), "split");
    invalid(d.subset(&[0, 150]).map(|_| ()), "subset");
    let s = Standardizer::fit(&d);
    let mut other = wine(&data_dir()).unwrap();
    invalid(s.apply(&mut other), "standardize");
}
