/**
 * Where each external tool the repository runs comes from on a fresh Debian 12 machine. A tool
 * missing here fails the check: add it here *and* make tools/setup.sh install it.
 *
 * - `apt`: a Debian package that must be in APT_PACKAGES of tools/setup.sh. `owner` is the package
 *   that really holds the binary when that is a dependency of `package` (checked against dpkg).
 * - `essential`: a Debian "Essential: yes" package, on every Debian system (checked against dpkg).
 * - `setup`: installed by a step of tools/setup.sh other than apt; `evidence` must match its text.
 * - `machine`: comes with the machine CI runs on, before setup (setup itself needs it).
 * - `optional`: only a fallback; nothing fails without it.
 */
export type Provider =
  | { kind: 'apt'; package: string; owner?: string }
  | { kind: 'essential'; package: string }
  | { kind: 'setup'; how: string; evidence: RegExp }
  | { kind: 'machine'; why: string }
  | { kind: 'optional'; why: string };

const apt = (pkg: string, owner?: string): Provider =>
  owner === undefined ? { kind: 'apt', package: pkg } : { kind: 'apt', package: pkg, owner };
const essential = (pkg: string): Provider => ({ kind: 'essential', package: pkg });

export const TOOLS: Record<string, Provider> = {
  // Essential packages.
  bash: essential('bash'),
  sh: essential('dash'),
  cat: essential('coreutils'),
  chroot: essential('coreutils'),
  cp: essential('coreutils'),
  df: essential('coreutils'),
  du: essential('coreutils'),
  head: essential('coreutils'),
  install: essential('coreutils'),
  ls: essential('coreutils'),
  readlink: essential('coreutils'),
  sleep: essential('coreutils'),
  tail: essential('coreutils'),
  tee: essential('coreutils'),
  // Builtins in a shell, but code that spawns them runs coreutils' binaries.
  test: essential('coreutils'),
  true: essential('coreutils'),
  tr: essential('coreutils'),
  yes: essential('coreutils'),
  sed: essential('sed'),
  gzip: essential('gzip'),
  hostname: essential('hostname'),
  'dpkg-deb': essential('dpkg'),
  chmod: essential('coreutils'),
  cut: essential('coreutils'),
  dd: essential('coreutils'),
  dirname: essential('coreutils'),
  env: essential('coreutils'),
  id: essential('coreutils'),
  mkdir: essential('coreutils'),
  ln: essential('coreutils'),
  mktemp: essential('coreutils'),
  mv: essential('coreutils'),
  rm: essential('coreutils'),
  sha256sum: essential('coreutils'),
  sort: essential('coreutils'),
  sync: essential('coreutils'),
  truncate: essential('coreutils'),
  diff: essential('diffutils'),
  find: essential('findutils'),
  grep: essential('grep'),
  tar: essential('tar'),
  'dpkg-query': essential('dpkg'),
  // util-linux is Essential, but setup names it so its tools are explicit.
  blkid: apt('util-linux'),
  blockdev: apt('util-linux'),
  partx: apt('util-linux'),
  flock: apt('util-linux'),
  findmnt: apt('util-linux'),
  setpriv: apt('util-linux'),
  // Not Essential: mount, umount, losetup and swapon live in their own package.
  mount: apt('mount'),
  umount: apt('mount'),
  losetup: apt('mount'),
  swapon: apt('mount'),
  swapoff: apt('mount'),
  // Disk images and filesystems.
  sgdisk: apt('gdisk'),
  sfdisk: apt('fdisk'),
  e2fsck: apt('e2fsprogs'),
  resize2fs: apt('e2fsprogs'),
  debugfs: apt('e2fsprogs'),
  dumpe2fs: apt('e2fsprogs'),
  'mkfs.ext4': apt('e2fsprogs'),
  tune2fs: apt('e2fsprogs'),
  'mkfs.vfat': apt('dosfstools'),
  mcopy: apt('mtools'),
  mdir: apt('mtools'),
  mmd: apt('mtools'),
  mtype: apt('mtools'),
  mdel: apt('mtools'),
  chattr: apt('e2fsprogs'),
  // Extension images (sysexts/confexts): built by tests, inspected by os-config.
  mksquashfs: apt('squashfs-tools'),
  unsquashfs: apt('squashfs-tools'),
  // Extension disk images (GPT with verity) are read with systemd's own dissector.
  'systemd-dissect': apt('systemd-container'),
  veritysetup: apt('cryptsetup-bin'),
  // Install's RAID and LUKS2 steps (run for real inside the management VMs; the package is
  // installed here too, so the same code finds them on any Debian host it runs on).
  cryptsetup: apt('cryptsetup-bin'),
  mdadm: apt('mdadm'),
  'systemd-cryptenroll': apt('systemd'),
  tpm2_clear: apt('tpm2-tools'),
  tpm2_pcrread: apt('tpm2-tools'),
  udevadm: apt('udev'),
  zstd: apt('zstd'),
  // Real components tests start, and test helpers.
  nginx: apt('nginx'),
  'docker-registry': apt('docker-registry'),
  skopeo: apt('skopeo'),
  curl: apt('curl'),
  openssl: apt('openssl'),
  perl: apt('perl', 'perl-base'),
  time: apt('time'),
  'systemd-socket-activate': apt('systemd'),
  systemctl: apt('systemd'),
  // Generates the machine-id of a verity root being installed (packages/os-config).
  'systemd-firstboot': apt('systemd'),
  // Only when present (package.sh strips the bundled node with it); binutils is installed anyway.
  strip: apt('binutils'),
  // Boot tests assemble a Unified Kernel Image from systemd's EFI stub.
  objcopy: apt('binutils'),
  // UEFI boot entries on real hosts (boot-config); the host itself may boot without UEFI.
  efibootmgr: apt('efibootmgr'),
  // Code generation and the Python gRPC client.
  protoc: apt('protobuf-compiler'),
  python3: apt('python3', 'python3-minimal'),
  git: apt('git'),
  // The VM rig (QEMU boots of installed images): its packages go into APT_PACKAGES with it.
  'qemu-system-x86_64': apt('qemu-system-x86'),
  'qemu-img': apt('qemu-utils'),
  mmdebstrap: apt('mmdebstrap'),
  swtpm: apt('swtpm'),
  swtpm_setup: apt('swtpm-tools'),
  ssh: apt('openssh-client'),
  'ssh-keygen': apt('openssh-client'),
  // Not from apt.
  pnpm: { kind: 'setup', how: 'npm install -g pnpm@<version>', evidence: /npm install -g [^\n]*pnpm@/ },
  cargo: {
    kind: 'setup',
    how: "rustup's cargo when present, else Debian's cargo",
    evidence: /apt-get install[^\n]* cargo\b/,
  },
  npm: { kind: 'machine', why: 'Node.js with npm comes with the CI machine; setup uses it to install pnpm' },
  'apt-get': { kind: 'machine', why: "Debian's package manager, which setup itself runs" },
  sudo: { kind: 'optional', why: 'setup uses it only when not run as root' },
  netplan: {
    kind: 'optional',
    why: 'a runtime update or runtime rollback applies netplan on the host it services (the fixture OS has netplan.io); tests on this machine write the file into a directory and check both with and without netplan',
  },
  rustup: {
    kind: 'optional',
    why: "setup adds clippy and rustfmt with it when cargo is rustup's; Debian's cargo gets rust-clippy and rustfmt from apt",
  },
};

/**
 * Packages a file needs without running a tool of that name: found by a pattern in files whose
 * path matches `files`.
 */
export interface Requirement {
  package: string;
  files: RegExp;
  pattern: RegExp;
  why: string;
}

export const REQUIREMENTS: Requirement[] = [
  {
    package: 'ovmf',
    files: /\.(sh|ts)$/,
    pattern: /\/usr\/share\/(?:OVMF|ovmf)\//,
    why: 'UEFI firmware for QEMU (/usr/share/OVMF)',
  },
  {
    package: 'libprotobuf-dev',
    files: /\.proto$/,
    pattern: /^\s*import\s+"google\/protobuf\//m,
    why: 'protoc finds the well-known protos (google/protobuf/*.proto) in /usr/include',
  },
  {
    package: 'python3-venv',
    files: /\.(sh|ts|py)$/,
    pattern: /-m\s+venv\b|import venv\b/,
    why: 'python3 -m venv (Debian splits the venv module and ensurepip out of python3)',
  },
];
