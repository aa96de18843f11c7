/**
 * The storage section of the A/B hosts the update VM tests install and update: one disk with the
 * ESP, a root A/B pair of 2 GiB volumes and the datastore on a new filesystem of its own (as
 * upstream's A/B e2e configurations keep it), the same in the install and every update, since an
 * update may not change storage.
 */
export function abStorage(espMiB: number): string {
  return `storage:
  disks:
    - id: os
      device: /dev/vda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: ${espMiB}M }
        - { id: root-a, type: root, size: 2G }
        - { id: root-b, type: root, size: 2G }
        - { id: trident, size: 256M }
  abUpdate:
    volumePairs:
      - { id: root, volumeAId: root-a, volumeBId: root-b }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
    - deviceId: trident
      source: new
      mountPoint: /var/lib/trident
`;
}
