# Hyper-V virtual machine 'instance-0004', generation 2: rendered by kumo from its GuestSpec.
# kumo instance 0c6e1d1a-4b8f-4f0e-9a44-000000000004. Run on the Hyper-V host as an administrator.
$ErrorActionPreference = 'Stop'

$vm = New-VM -Name 'instance-0004' -Generation 2 -MemoryStartupBytes 4GB -NoVHD
Set-VM -VM $vm -Notes 'kumo instance 0c6e1d1a-4b8f-4f0e-9a44-000000000004'
Set-VMMemory -VM $vm -DynamicMemoryEnabled $false -StartupBytes 4GB
Set-VMProcessor -VM $vm -Count 2
Set-VMFirmware -VM $vm -EnableSecureBoot Off

# Storage (New-VM's default DVD drive is replaced by the spec's drives)
Get-VMDvdDrive -VM $vm | Remove-VMDvdDrive
if (-not (Get-VMScsiController -VM $vm -ControllerNumber 0 -ErrorAction SilentlyContinue)) { Add-VMScsiController -VM $vm }
Add-VMHardDiskDrive -VM $vm -ControllerType SCSI -ControllerNumber 0 -ControllerLocation 0 -Path 'C:\ClusterStorage\Volume1\kumo\instance-0004\root.vhdx'
New-VHD -Path 'C:\ClusterStorage\Volume1\kumo\instance-0004\ephemeral.vhdx' -SizeBytes 20GB -Dynamic | Out-Null
Add-VMHardDiskDrive -VM $vm -ControllerType SCSI -ControllerNumber 0 -ControllerLocation 1 -Path 'C:\ClusterStorage\Volume1\kumo\instance-0004\ephemeral.vhdx'
Add-VMDvdDrive -VM $vm -ControllerNumber 0 -ControllerLocation 2 -Path 'C:\ClusterStorage\Volume1\kumo\instance-0004\configdrive.iso'
Set-VMFirmware -VM $vm -FirstBootDevice (Get-VMHardDiskDrive -VM $vm -ControllerType SCSI -ControllerNumber 0 -ControllerLocation 0)

# Network (New-VM's default adapter is replaced by the spec's)
Get-VMNetworkAdapter -VM $vm | Remove-VMNetworkAdapter
Add-VMNetworkAdapter -VM $vm -Name 'nic0' -SwitchName 'external'

# Time: the guest takes the host's time through this integration service
Enable-VMIntegrationService -VM $vm -Name 'Time Synchronization'
