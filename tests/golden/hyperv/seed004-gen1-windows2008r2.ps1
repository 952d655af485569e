# Hyper-V virtual machine 'instance-0001', generation 1: rendered by kumo from its GuestSpec.
# kumo instance 0c6e1d1a-4b8f-4f0e-9a44-000000000001. Run on the Hyper-V host as an administrator.
$ErrorActionPreference = 'Stop'

$vm = New-VM -Name 'instance-0001' -Generation 1 -MemoryStartupBytes 4GB -NoVHD
Set-VM -VM $vm -Notes 'kumo instance 0c6e1d1a-4b8f-4f0e-9a44-000000000001'
Set-VMMemory -VM $vm -DynamicMemoryEnabled $false -StartupBytes 4GB
Set-VMProcessor -VM $vm -Count 2

# Storage (New-VM's default DVD drive is replaced by the spec's drives)
Get-VMDvdDrive -VM $vm | Remove-VMDvdDrive
Add-VMHardDiskDrive -VM $vm -ControllerType IDE -ControllerNumber 0 -ControllerLocation 0 -Path 'C:\ClusterStorage\Volume1\kumo\instance-0001\root.vhd'
New-VHD -Path 'C:\ClusterStorage\Volume1\kumo\instance-0001\ephemeral.vhd' -SizeBytes 20GB -Dynamic | Out-Null
Add-VMHardDiskDrive -VM $vm -ControllerType IDE -ControllerNumber 0 -ControllerLocation 1 -Path 'C:\ClusterStorage\Volume1\kumo\instance-0001\ephemeral.vhd'
Add-VMDvdDrive -VM $vm -ControllerNumber 1 -ControllerLocation 0 -Path 'C:\ClusterStorage\Volume1\kumo\instance-0001\configdrive.iso'
Set-VMBios -VM $vm -StartupOrder @('IDE', 'CD', 'LegacyNetworkAdapter', 'Floppy')

# Network (New-VM's default adapter is replaced by the spec's)
Get-VMNetworkAdapter -VM $vm | Remove-VMNetworkAdapter
Add-VMNetworkAdapter -VM $vm -Name 'nic0' -SwitchName 'external'

# Time: the guest takes the host's time through this integration service
Enable-VMIntegrationService -VM $vm -Name 'Time Synchronization'
