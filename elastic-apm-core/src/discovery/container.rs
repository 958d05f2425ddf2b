//! Container id and Kubernetes pod uid from `/proc/self/cgroup`, with the cgroup v2
//! fallback through `/proc/self/mountinfo` (metadata.md, "Container/Kubernetes
//! metadata"). The spec's regular expressions are matched by hand.

use crate::model::{Kubernetes, KubernetesName, KubernetesPod};

/// What the cgroup and mount files say about the container this process runs in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The container id.
    pub container_id: Option<String>,
    /// The Kubernetes pod uid, dashed.
    pub pod_uid: Option<String>,
}

/// Parses the contents of `/proc/self/cgroup` and, when that names no container
/// (cgroup v2), of `/proc/self/mountinfo`.
pub fn parse(cgroup: &str, mountinfo: Option<&str>) -> ContainerInfo {
    let mut info = cgroup
        .lines()
        .map(parse_cgroup_line)
        .find(|i| i.container_id.is_some() || i.pod_uid.is_some())
        .unwrap_or_default();
    if info.container_id.is_none() {
        info.container_id = mountinfo.and_then(parse_mountinfo);
    }
    info
}

/// Reads the real files. Missing or unreadable files count as empty.
pub(crate) fn discover() -> ContainerInfo {
    let Some(cgroup) = super::read_capped("/proc/self/cgroup") else {
        return ContainerInfo::default();
    };
    let mountinfo = super::read_capped("/proc/self/mountinfo");
    parse(&cgroup, mountinfo.as_deref())
}

/// `system.kubernetes` from the cgroup findings, the detected hostname and the
/// `KUBERNETES_*` environment variables (set through the Downward API). `None` when
/// nothing is known.
pub(crate) fn kubernetes(
    info: &ContainerInfo,
    hostname: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Option<Kubernetes> {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let uid = env("KUBERNETES_POD_UID").or_else(|| info.pod_uid.clone());
    // A pod's hostname defaults to its name; only trust that inside a pod.
    let name = env("KUBERNETES_POD_NAME").or_else(|| {
        info.pod_uid
            .as_ref()
            .and(hostname)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
    });
    let pod = (uid.is_some() || name.is_some()).then_some(KubernetesPod { name, uid });
    let node = env("KUBERNETES_NODE_NAME").map(KubernetesName::new);
    let namespace = env("KUBERNETES_NAMESPACE");
    (pod.is_some() || node.is_some() || namespace.is_some()).then_some(Kubernetes {
        namespace,
        node,
        pod,
    })
}

/// One `hierarchy-ID:controller-list:cgroup-path` line.
fn parse_cgroup_line(line: &str) -> ContainerInfo {
    // The path may itself contain ':' (containerd-cri), so split on the first two only.
    let Some(path) = line.splitn(3, ':').nth(2) else {
        return ContainerInfo::default();
    };
    let Some(split) = path.rfind(':').or_else(|| path.rfind('/')) else {
        return ContainerInfo::default();
    };
    let (dirname, mut basename) = (&path[..split], &path[split + 1..]);
    if let Some(stem) = basename.strip_suffix(".scope") {
        // `docker-<id>.scope`, `cri-containerd-<id>.scope`: the id follows the last
        // hyphen (the spec's cases need the last, not the first).
        basename = stem.rfind('-').map_or(stem, |i| &stem[i + 1..]);
    }
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    if let Some(uid) = pod_uid_kubepods_dir(dirname).or_else(|| pod_uid_kubepods_slice(dirname)) {
        // Inside a pod the basename is the container id, unchecked.
        return ContainerInfo {
            container_id: non_empty(basename),
            pod_uid: non_empty(&uid.replace('_', "-")),
        };
    }
    let is_id = is_hex_len(basename, 64) || is_uuid_like(basename) || is_ecs_task_id(basename);
    ContainerInfo {
        container_id: is_id.then(|| basename.to_owned()),
        pod_uid: None,
    }
}

/// `^/kubepods[\S]*/pod([^/]+)$`
fn pod_uid_kubepods_dir(dirname: &str) -> Option<&str> {
    let rest = dirname.strip_prefix("/kubepods")?;
    let slash = rest.rfind('/')?;
    if rest[..slash].chars().any(char::is_whitespace) {
        return None;
    }
    rest[slash + 1..]
        .strip_prefix("pod")
        .filter(|uid| !uid.is_empty())
}

/// `kubepods[^/]*-pod([^/]+)\.slice`, unanchored: within one path segment, the last
/// `-pod` that still has a non-empty uid before the segment's last `.slice`.
fn pod_uid_kubepods_slice(dirname: &str) -> Option<&str> {
    dirname.split('/').find_map(|segment| {
        let rest = &segment[segment.find("kubepods")? + "kubepods".len()..];
        let slice = rest.rfind(".slice")?;
        let mut end = slice;
        loop {
            let pod = rest[..end].rfind("-pod")?;
            if pod + "-pod".len() < slice {
                return Some(&rest[pod + "-pod".len()..slice]);
            }
            end = pod;
        }
    })
}

/// The id in the host path of the `/etc/hostname` mount: a 64-hex path segment of the
/// mount root (mountinfo's 4th field, the spec's "3rd element" counting from 0).
fn parse_mountinfo(mountinfo: &str) -> Option<String> {
    mountinfo
        .lines()
        .filter(|line| line.contains("/etc/hostname"))
        .filter_map(|line| line.split(' ').nth(3))
        .find_map(|root| root.split('/').find(|s| is_hex_len(s, 64)))
        .map(str::to_owned)
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_hex_len(s: &str, len: usize) -> bool {
    s.len() == len && is_hex(s)
}

/// `^[[:xdigit:]]{8}-[[:xdigit:]]{4}-[[:xdigit:]]{4}-[[:xdigit:]]{4}-[[:xdigit:]]{4,}$`
fn is_uuid_like(s: &str) -> bool {
    let mut parts = s.split('-');
    [Some(8), Some(4), Some(4), Some(4), None]
        .iter()
        .all(|len| match (parts.next(), len) {
            (Some(p), Some(len)) => is_hex_len(p, *len),
            (Some(p), None) => p.len() >= 4 && is_hex(p),
            (None, _) => false,
        })
        && parts.next().is_none()
}

/// `^[[:xdigit:]]{32}-[[:digit:]]{1,10}$` (AWS ECS and Fargate).
fn is_ecs_task_id(s: &str) -> bool {
    s.split_once('-').is_some_and(|(hex, digits)| {
        is_hex_len(hex, 32)
            && (1..=10).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "2227daf62df6694645fee5df53c1f91271546a9560e8600a525690ae252b7f63";

    fn id(cgroup: &str) -> Option<String> {
        parse(cgroup, None).container_id
    }

    #[test]
    fn docker_and_containerd_paths() {
        assert_eq!(id(&format!("12:devices:/docker/{ID}")).as_deref(), Some(ID));
        assert_eq!(
            id(&format!("1:name=systemd:/system.slice/docker-{ID}.scope")).as_deref(),
            Some(ID)
        );
        assert_eq!(
            id(&format!(
                "0::/system.slice/containerd.service:cri-containerd:{ID}"
            ))
            .as_deref(),
            Some(ID)
        );
        let uuid = "7e9b4e1a-6a4b-4f5c-9a1b-0123456789ab";
        assert_eq!(id(&format!("2:cpu:/garden/{uuid}")).as_deref(), Some(uuid));
        let ecs = "03752a671e744971a862edcee6195646-4015103728";
        assert_eq!(id(&format!("1:cpu:/ecs/x/{ecs}")).as_deref(), Some(ecs));
        // The first line with an id wins.
        assert_eq!(
            id(&format!(
                "3:cpu:/\n2:cpu:/docker/{ID}\n1:cpu:/docker/{}",
                "a".repeat(64)
            ))
            .as_deref(),
            Some(ID)
        );
    }

    #[test]
    fn kubepods_paths() {
        let info = parse(
            &format!("1:cpu:/kubepods/besteffort/pod0e6c8ae0-16e1-11e9-a4b2-42010a800123/{ID}"),
            None,
        );
        assert_eq!(info.container_id.as_deref(), Some(ID));
        assert_eq!(
            info.pod_uid.as_deref(),
            Some("0e6c8ae0-16e1-11e9-a4b2-42010a800123")
        );
        let info = parse(
            "1:cpu:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-poda_b_c.slice/cri-containerd-not-hex.scope",
            None,
        );
        // Inside a pod the basename is taken unchecked.
        assert_eq!(info.container_id.as_deref(), Some("hex"));
        assert_eq!(info.pod_uid.as_deref(), Some("a-b-c"));
    }

    #[test]
    fn kubepods_matchers() {
        assert_eq!(pod_uid_kubepods_dir("/kubepods/x/podabc"), Some("abc"));
        assert_eq!(pod_uid_kubepods_dir("/kubepods/podabc"), Some("abc"));
        assert_eq!(pod_uid_kubepods_dir("/kubepods/pod"), None);
        assert_eq!(pod_uid_kubepods_dir("/kube pods/podabc"), None);
        assert_eq!(pod_uid_kubepods_dir("/kubepods/a b/podabc"), None);
        assert_eq!(pod_uid_kubepods_dir("kubepods/podabc"), None);
        assert_eq!(pod_uid_kubepods_slice("/a/kubepods-podX.slice"), Some("X"));
        assert_eq!(
            pod_uid_kubepods_slice("/kubepods-podX.slice-pod"),
            Some("X")
        );
        assert_eq!(pod_uid_kubepods_slice("/kubepods-pod.slice"), None);
        assert_eq!(pod_uid_kubepods_slice("/kubepods-pod/X.slice"), None);
        assert_eq!(
            pod_uid_kubepods_slice("/kubepods-a-podb-podc.slice"),
            Some("c")
        );
    }

    #[test]
    fn id_patterns() {
        assert!(is_hex_len(&"aF".repeat(32), 64));
        assert!(!is_hex_len(&"g".repeat(64), 64));
        assert!(is_uuid_like("01234567-89ab-cdef-0123-456789abcdef0"));
        assert!(is_uuid_like("01234567-89ab-cdef-0123-4567"));
        assert!(!is_uuid_like("01234567-89ab-cdef-0123-456"));
        assert!(!is_uuid_like("01234567-89ab-cdef-0123-4567-89ab"));
        assert!(!is_uuid_like("01234567-89ab-cdef-0123"));
        assert!(is_ecs_task_id(&format!("{}-1234567890", "a".repeat(32))));
        assert!(!is_ecs_task_id(&format!("{}-12345678901", "a".repeat(32))));
        assert!(!is_ecs_task_id(&format!("{}-", "a".repeat(32))));
        assert!(!is_ecs_task_id(&format!("{}-1a", "a".repeat(32))));
    }

    #[test]
    fn cgroup_v2_falls_back_to_mountinfo() {
        let mountinfo = format!(
            "1 2 0:1 / / rw - overlay overlay rw\n3 1 253:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw - ext4 /dev/sda rw"
        );
        assert_eq!(
            parse("0::/", Some(&mountinfo)).container_id.as_deref(),
            Some(ID)
        );
        assert_eq!(parse("0::/", None), ContainerInfo::default());
        // The cgroup file wins when it names a container.
        let other = "b".repeat(64);
        assert_eq!(
            parse(&format!("0::/docker/{other}"), Some(&mountinfo)).container_id,
            Some(other)
        );
    }

    #[test]
    fn hostile_input_finds_nothing() {
        for cgroup in [
            "",
            "\n\n",
            ":",
            "::",
            "1:x",
            "0::",
            "0::/",
            "0::kubepods",
            "0::/kubepods/pod/",
            "0::.scope",
            "0::/-.scope",
            "0::/\u{fffd}\u{fffd}/\u{fffd}.scope",
        ] {
            let info = parse(cgroup, Some(cgroup));
            assert!(info.container_id.is_none(), "{cgroup:?}");
        }
        let info = parse("0::/kubepods-pod\u{e9}.slice/x", None);
        assert_eq!(
            (info.pod_uid.as_deref(), info.container_id.as_deref()),
            (Some("\u{e9}"), Some("x"))
        );
        let huge = format!("0::/kubepods{}/x", "-pod".repeat(250_000));
        assert_eq!(parse(&huge, Some(&huge)), ContainerInfo::default());
        let huge = format!("0::/{}", "a".repeat(1 << 20));
        assert_eq!(parse(&huge, Some(&huge)), ContainerInfo::default());
    }

    #[test]
    fn kubernetes_from_cgroup_and_env() {
        let none = |_: &str| None;
        assert_eq!(
            kubernetes(&ContainerInfo::default(), Some("host"), none),
            None
        );

        let in_pod = ContainerInfo {
            container_id: Some(ID.into()),
            pod_uid: Some("uid".into()),
        };
        let k = kubernetes(&in_pod, Some("pod-host"), none).unwrap();
        let pod = k.pod.unwrap();
        assert_eq!(
            (pod.name.as_deref(), pod.uid.as_deref()),
            (Some("pod-host"), Some("uid"))
        );
        assert_eq!((k.node, k.namespace), (None, None));

        let env = |name: &str| match name {
            "KUBERNETES_POD_NAME" => Some("name".to_owned()),
            "KUBERNETES_POD_UID" => Some("env-uid".to_owned()),
            "KUBERNETES_NODE_NAME" => Some("node".to_owned()),
            "KUBERNETES_NAMESPACE" => Some("ns".to_owned()),
            _ => None,
        };
        let k = kubernetes(&in_pod, Some("pod-host"), env).unwrap();
        let pod = k.pod.unwrap();
        assert_eq!(
            (pod.name.as_deref(), pod.uid.as_deref()),
            (Some("name"), Some("env-uid"))
        );
        assert_eq!(k.node.unwrap().name, "node");
        assert_eq!(k.namespace.as_deref(), Some("ns"));

        // Outside a pod the hostname is not a pod name; empty variables are unset.
        let env = |name: &str| match name {
            "KUBERNETES_NAMESPACE" => Some("ns".to_owned()),
            _ => Some(String::new()),
        };
        let k = kubernetes(&ContainerInfo::default(), Some("host"), env).unwrap();
        assert_eq!(
            (k.pod, k.node, k.namespace.as_deref()),
            (None, None, Some("ns"))
        );
    }
}
