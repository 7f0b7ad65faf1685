//! Hand-parsed command line of grpc-app (three flags, so no clap).

use std::time::Duration;

pub const USAGE: &str = "\
usage: grpc-app [--port N] [--version V] [--unavailable] [--tick D]

  --port N       port on 127.0.0.1 to listen on, h2c (default $PORT, else 0 = any free port)
  --version V    version sent in the x-version header of every answer
                 (default $GANTRY_VERSION, else v1)
  --unavailable  refuse every call with UNAVAILABLE (a broken release)
  --tick D       how often the service gantry.Tick flips between SERVING and NOT_SERVING,
                 e.g. 200ms, 1s (default 1s)

service: grpc.health.v1.Health (Check, Watch) for \"\" (always SERVING) and gantry.Tick
";

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub port: u16,
    pub version: String,
    pub unavailable: bool,
    pub tick: Duration,
}

#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Args),
    Help,
}

/// Parses `argv` (without the program name); `env` looks up `PORT` and `GANTRY_VERSION`.
pub fn parse(
    argv: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Parsed, String> {
    let mut port = match env("PORT") {
        Some(p) => p
            .parse()
            .map_err(|_| format!("$PORT: {p:?} is not a port"))?,
        None => 0,
    };
    let mut version = env("GANTRY_VERSION")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "v1".into());
    let mut unavailable = false;
    let mut tick = Duration::from_secs(1);
    let mut argv = argv.into_iter();
    while let Some(arg) = argv.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--port" => {
                let v = value("--port")?;
                port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port"))?;
            }
            "--version" => version = value("--version")?,
            "--unavailable" => unavailable = true,
            "--tick" => tick = parse_duration(&value("--tick")?)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Parsed::Run(Args {
        port,
        version,
        unavailable,
        tick,
    }))
}

/// `250ms` or `2s`, more than zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.strip_suffix("ms") {
        Some(n) => (n, 1),
        None => (
            text.strip_suffix('s')
                .ok_or_else(|| format!("--tick: {text:?} needs a unit, ms or s"))?,
            1000,
        ),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("--tick: {text:?} is not a whole number of ms or s"))?;
    if n == 0 {
        return Err("--tick: must be more than zero".into());
    }
    Ok(Duration::from_millis(n * unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(argv: &[&str], env: &[(&str, &str)]) -> Result<Parsed, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(argv.iter().map(|s| s.to_string()), |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn flags_override_the_environment() {
        let parsed = run(
            &[
                "--port",
                "9000",
                "--version=v2",
                "--unavailable",
                "--tick",
                "200ms",
            ],
            &[("PORT", "1"), ("GANTRY_VERSION", "v9")],
        );
        assert_eq!(
            parsed,
            Ok(Parsed::Run(Args {
                port: 9000,
                version: "v2".into(),
                unavailable: true,
                tick: Duration::from_millis(200),
            }))
        );
        let Ok(Parsed::Run(a)) = run(&[], &[("PORT", "7"), ("GANTRY_VERSION", "v9")]) else {
            panic!()
        };
        assert_eq!(
            (a.port, a.version.as_str(), a.unavailable),
            (7, "v9", false)
        );
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(
            run(&["--tick", "5"], &[]),
            Err("--tick: \"5\" needs a unit, ms or s".into())
        );
        assert_eq!(
            run(&["--port", "x"], &[]),
            Err("--port: \"x\" is not a port".into())
        );
        assert_eq!(
            run(&["--nope"], &[]),
            Err("unknown argument \"--nope\"".into())
        );
        assert_eq!(
            run(&["--version"], &[]),
            Err("--version needs a value".into())
        );
    }
}
