//! Generic schemas inferred from any labelled CSV.

use flowdata::{CategoricalPolicy, Family, InferOptions, ReadOptions, Schema, read_flows};

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn numeric_and_one_hot_columns_with_a_family_column() {
    let dir = tempfile::tempdir().unwrap();
    let train = write(
        dir.path(),
        "train.csv",
        "\u{feff}id,dur,proto,note,bytes,attack_cat,label\r\n\
         1,0.5,tcp,a,100,Normal,0\r\n\
         2,1.5,udp,b,200,Exploits,1\r\n\
         3,2.5,tcp,c,inf,DoS,1\r\n\
         4,0.1,icmp,d,50,Normal,0\r\n",
    );
    let mut opts = InferOptions::new("label");
    opts.family_column = Some("attack_cat".into());
    opts.categorical = vec!["proto".into()];
    let schema = Schema::infer(&[&train], &opts).unwrap();
    assert_eq!(
        schema.feature_names(),
        vec!["dur", "proto=icmp", "proto=tcp", "proto=udp", "bytes"],
        "id is an identifier, note is unnamed text"
    );
    let (frame, report) = read_flows(&[&train], &ReadOptions::with_schema(schema.clone())).unwrap();
    assert_eq!(frame.n_rows(), 3, "the inf row is dropped");
    assert_eq!(report.files[0].ignored_columns, vec!["note".to_string()]);
    assert_eq!(
        frame.features().row(1).to_vec(),
        vec![1.5, 0.0, 0.0, 1.0, 200.0]
    );
    assert_eq!(frame.raw_label(1), "Exploits");
    assert_eq!(frame.family(1), Family::Other);
    assert_eq!(frame.binary_labels(), vec![0, 1, 0]);

    // A category unseen at inference time becomes all zeros and is counted.
    let test = write(
        dir.path(),
        "test.csv",
        "id,dur,proto,note,bytes,attack_cat,label\n9,1,sctp,x,5,DoS,1\n",
    );
    let (frame, report) = read_flows(&[&test], &ReadOptions::with_schema(schema)).unwrap();
    assert_eq!(
        frame.features().row(0).to_vec(),
        vec![1.0, 0.0, 0.0, 0.0, 5.0]
    );
    assert_eq!(report.cells().unknown_category, 1);
    assert_eq!(frame.family(0), Family::DoS);

    opts.categorical_policy = CategoricalPolicy::Drop;
    assert_eq!(
        Schema::infer(&[&train], &opts).unwrap().feature_names(),
        vec!["dur", "bytes"]
    );
}

#[test]
fn text_labels_without_a_family_column_and_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "t.csv", "x,y,Class\n1,2,BENIGN\n3,4,PortScan\n");
    let schema = Schema::infer(&[&p], &InferOptions::new("class")).unwrap();
    let (frame, _) = read_flows(&[&p], &ReadOptions::with_schema(schema)).unwrap();
    assert_eq!(frame.binary_labels(), vec![0, 1]);
    assert_eq!(frame.family(1), Family::PortScan);
    assert!(Schema::infer(&[&p], &InferOptions::new("nope")).is_err());
    let mut opts = InferOptions::new("Class");
    opts.categorical = vec!["missing".into()];
    assert!(
        Schema::infer(&[&p], &opts)
            .unwrap_err()
            .to_string()
            .contains("missing")
    );
}
