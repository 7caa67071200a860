mod synth;
#[test]
fn scratch() {
    let mut a = synth::StageSpec::new("c=4", 1, 200.0); a.requests = 2000;
    let mut b = synth::StageSpec::new("c=4", 2, 260.0); b.requests = 2000;
    let base = synth::run("base", &[a]);
    let new = synth::run("new", &[b]);
    let gates: Vec<voxload::report::compare::Gate> = vec!["ttfa.p95 > +10%".parse().unwrap(), "errors > +1%".parse().unwrap()];
    let c = voxload::report::compare::compare(&base, &new, &[], &gates);
    print!("{}", voxload::report::compare::table(&c));
}
