//! Issue 7: an external checkpoint agent is heard however much it writes to stderr.

use std::time::{Duration, Instant};

use crate::{project_with, verify};

#[test]
fn issue7_chatty_agent_answer_is_read() {
    let p = project_with(
        &[("verifier", "command: ./agents/chatty.sh")],
        "
  p:
    stages:
      - name: build
        steps: [ { run: 'true' } ]
        checkpoint: { role: verifier, timeout: 60s }
      - { name: ship, steps: [ { run: touch shipped } ] }
",
    );
    // About 1 MB of stderr before the answer: far past a pipe's 64 KiB, so an agent whose
    // stderr is read only after its stdout blocks forever.
    let agents = p.path().join("agents");
    std::fs::create_dir(&agents).unwrap();
    std::fs::write(
        agents.join("chatty.sh"),
        "#!/bin/sh\n\
         cat > /dev/null\n\
         i=0\n\
         while [ $i -lt 16 ]; do head -c 65536 /dev/zero | tr '\\0' 'e' >&2; i=$((i+1)); done\n\
         echo '{\"decision\": \"approve\", \"summary\": \"heard through the noise\", \"tokens_used\": 3}'\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x", "agents/chatty.sh"])
        .current_dir(p.path())
        .status()
        .unwrap();
    let started = Instant::now();
    p.gantry(&["run", "p"]).ok();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "answered before its timeout"
    );
    let signed = p.entries_of("checkpoint.signed");
    assert_eq!(signed.len(), 1, "{signed:?}");
    assert_eq!(signed[0]["body"]["summary"], "heard through the noise");
    assert_eq!(signed[0]["body"]["tokens_used"], 3);
    assert!(p.path().join("shipped").exists());
    verify(&p);
}
