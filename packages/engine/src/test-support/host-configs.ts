/** Host Configurations for engine tests, over a demo COSI (ESP at /boot/efi, ext4 root at /). */

/** An A/B layout with a new ext4, a new vfat taking the rest of the disk, and swap. */
export function abConfig(url: string, sha384: string, extra = ''): string {
  return `image:
  url: ${url}
  sha384: ${sha384}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 16M }
        - { id: root-a, type: root, size: 64M }
        - { id: root-b, type: root, size: 64M }
        - { id: swap, type: swap, size: 8M }
        - { id: trident, size: 16M }
        - { id: data, size: grow }
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
    - deviceId: data
      source: new
      type: vfat
      mountPoint: /srv
  swap:
    - swap
${extra}`;
}
